// Which namespace each prefix names at a point of XML read token by token: a declaration holds
// for the element that makes it and everything inside it (Namespaces in XML 1.0 §6.1). Kept as
// a stack of bindings per prefix, so entering and leaving an element costs what it declares,
// not the size of the scope: a body of thousands of nested declaring elements stays linear.

import type { StartTag } from "./xml-tokens";

/** The namespace the prefix `xml` names, bound without a declaration. */
export const XML_NAMESPACE = "http://www.w3.org/XML/1998/namespace";

export class NamespaceBindings {
  private readonly bound = new Map<string, string[]>();
  /** For each element entered and not yet left, the prefixes it declared (null: none). */
  private readonly declared: Array<string[] | null> = [];

  /** `outer`: what the document is put inside declares (an envelope's start tags). */
  constructor(outer: ReadonlyMap<string, string> = new Map()) {
    for (const [prefix, uri] of outer) this.bound.set(prefix, [uri]);
  }

  /** Enters `tag`: its declarations hold until the leave() that matches this call. */
  enter(tag: StartTag): void {
    if (tag.declarations.size === 0) {
      this.declared.push(null);
      return;
    }
    const prefixes: string[] = [];
    for (const [prefix, uri] of tag.declarations) {
      const stack = this.bound.get(prefix);
      if (stack === undefined) this.bound.set(prefix, [uri]);
      else stack.push(uri);
      prefixes.push(prefix);
    }
    this.declared.push(prefixes);
  }

  /** Leaves the element entered last: its declarations no longer hold. */
  leave(): void {
    for (const prefix of this.declared.pop() ?? []) this.bound.get(prefix)?.pop();
  }

  /**
   * The namespace `prefix` names here (`xml` always its own), or undefined when nothing in
   * scope binds it. `xmlns:p=""` binds nothing: XML 1.0 cannot undeclare a prefix.
   */
  resolve(prefix: string): string | undefined {
    if (prefix === "xml") return XML_NAMESPACE;
    const stack = this.bound.get(prefix);
    const uri = stack === undefined ? undefined : stack[stack.length - 1];
    return uri === "" && prefix !== "" ? undefined : uri;
  }
}
