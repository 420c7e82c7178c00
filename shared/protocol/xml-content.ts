// Content that must be one sound element: a REST caller's XML body that a SOAP translator puts
// in the Body of an envelope, checked by the adapter at intake and by the worker again. Its
// structure is read with the token scanner; what a backend's strict parser would refuse in it
// is refused here, before the caller is told 202, rather than by the backend after.

import { NamespaceBindings } from "./namespace-bindings";
import { reservedInstruction } from "./xml-declaration";
import { forbiddenReference, shownReference } from "./character-reference";
import {
  checkCharacters,
  splitName,
  tokens,
  unknownReference,
  XML_NAME,
  XmlScanError,
  type StartTag,
} from "./xml-tokens";

/** Content whose names do not resolve: a prefix nothing in scope declares, or an attribute twice. */
export class XmlNamespaceError extends XmlScanError {
  constructor(message: string) {
    super(message);
    this.name = "XmlNamespaceError";
  }
}

// An "&" that begins no reference XML knows without a DTD (its five entities, a character
// reference). A backend's parser refuses it; `&nbsp;` is the usual one.
const BARE_AMPERSAND = /&(?!#x[0-9a-fA-F]+;|#[0-9]+;|(?:amp|lt|gt|quot|apos);)/;

/**
 * The offset in `run` of the first "&" that begins no reference XML knows without a DTD (`&nbsp;`,
 * `&e;`, a lone "&"), or -1: a strict parser refuses the whole document for it.
 */
export function bareAmpersand(run: string): number {
  return BARE_AMPERSAND.exec(run)?.index ?? -1;
}

/**
 * Throws XmlScanError where the run of text in `content` between `start` and `end` holds an "&"
 * that begins no known reference, a reference to a character XML does not allow (`&#0;`), or
 * `]]>`, which ends a CDATA section and nothing else. Attribute values are checked as the tokens
 * read them (decodeEntities): each is read once.
 */
function checkCharacterData(content: string, start: number, end: number): void {
  if (end <= start) return;
  const run = content.slice(start, end);
  const bare = bareAmpersand(run);
  if (bare >= 0) throw unknownReference(start + bare);
  const cdataEnd = run.indexOf("]]>");
  if (cdataEnd >= 0) throw new XmlScanError(`"]]>" in text at offset ${start + cdataEnd}`);
  const forbidden = forbiddenReference(run);
  if (forbidden !== null) {
    throw new XmlScanError(
      `${shownReference(forbidden.reference)} at offset ${start + forbidden.at} refers to a character XML does not allow`,
    );
  }
}

/**
 * Throws XmlScanError for a comment holding `--` (or ending in `-`), or a PI named `xml` (an
 * XML declaration anywhere but the very start, which the body's reader takes off): markup the
 * scanner steps over at `at`.
 */
function checkSteppedOver(content: string, at: number, end: number): void {
  if (content.startsWith("<!--", at)) {
    const inside = content.slice(at + 4, end - 3);
    if (inside.includes("--") || inside.endsWith("-")) {
      throw new XmlScanError(`a comment at offset ${at} holds "--"`);
    }
  } else if (content.startsWith("<?", at)) {
    // The body's reader took off the declaration at the very start (xmlBodyMarkup): one here,
    // at offset 0 too, came after white space or another.
    const reserved = reservedInstruction(content, at, false);
    if (reserved !== null) throw new XmlScanError(`${reserved} (at offset ${at})`);
  }
}

/**
 * Throws XmlScanError for a start tag's attribute whose name is no XML name (`1`, `b<c`), or a
 * namespace declaration that undeclares a prefix (`xmlns:p=""`, XML 1.1's only). The "&" and
 * references of its values were checked as the tokens read them.
 */
function checkAttributes(tag: StartTag): void {
  for (const [name, value] of tag.attributes) {
    if (!XML_NAME.test(name)) {
      throw new XmlScanError(
        `a start tag at offset ${tag.start} has an attribute named no XML name`,
      );
    }
    if (value === "" && name.startsWith("xmlns:")) {
      throw new XmlScanError(`${name}="" at offset ${tag.start}: a prefix cannot be undeclared`);
    }
  }
}

/**
 * Throws XmlNamespaceError where `tag`'s name or an attribute's uses a prefix `bindings` does
 * not resolve, or two of its attributes are one name once resolved (`p:x` and `q:x` with `p`
 * and `q` naming one namespace; Namespaces in XML 1.0 §6.3): a namespace-aware parser refuses
 * both.
 */
function checkNames(tag: StartTag, bindings: NamespaceBindings): void {
  if (tag.prefix !== "" && bindings.resolve(tag.prefix) === undefined) {
    throw new XmlNamespaceError(
      `the prefix "${tag.prefix}" of <${tag.name}> at offset ${tag.start} is not declared`,
    );
  }
  let seen: Set<string> | null = null;
  for (const [name] of tag.attributes) {
    const { prefix, local } = splitName(name);
    if (prefix === "" || prefix === "xmlns") continue;
    const uri = bindings.resolve(prefix);
    if (uri === undefined) {
      throw new XmlNamespaceError(
        `the prefix "${prefix}" of the attribute ${name} at offset ${tag.start} is not declared`,
      );
    }
    seen ??= new Set();
    const expanded = `{${uri}}${local}`;
    if (seen.has(expanded)) {
      throw new XmlNamespaceError(
        `a start tag at offset ${tag.start} names the attribute ${expanded} twice`,
      );
    }
    seen.add(expanded);
  }
}

/**
 * The start tag of the one element `content` holds, with comments, PIs or text around it, or
 * null when it holds none. Throws XmlScanError for content that is not one element: an end tag
 * closing what the content did not open, a second element beside the first, one left open.
 * Content put inside a larger document (a caller's element in the Body of an envelope) could
 * otherwise close what encloses it and write parts of its own there, and an end tag naming
 * another element than the one it closes (`<a><p></Body><Body></p></a>` counts as balanced)
 * could do the same. Also throws for what a strict parser refuses in it (the checks above).
 * Reads the whole content in one pass, without recursion: the open elements are a list of their
 * names, bounded by the content's length. Given `outer`, the declarations the content will be
 * put inside, its names are resolved too (checkNames): without, prefixes are not looked at.
 * With `textAround` "refused", text other than XML's white space outside the element is refused
 * too, as in a whole document (XML 1.0 §2.1: only comments, PIs and white space around it).
 */
export function rootElement(
  content: string,
  outer?: ReadonlyMap<string, string>,
  textAround: "kept" | "refused" = "kept",
): StartTag | null {
  checkCharacters(content);
  let root: StartTag | null = null;
  const open: string[] = [];
  const bindings = outer === undefined ? null : new NamespaceBindings(outer);
  /** Where the last run of text ended: the markup after it starts there. */
  let markupAt = -1;
  const onText = (start: number, end: number) => {
    if (markupAt >= 0) checkSteppedOver(content, markupAt, start);
    checkCharacterData(content, start, end);
    if (textAround === "refused" && open.length === 0) {
      const where = root === null ? "before" : "after";
      if (/[^ \t\r\n]/.test(content.slice(start, end))) {
        throw new XmlScanError(`it holds text ${where} its element (at offset ${start})`);
      }
      // A CDATA section is text too, allowed only inside an element (XML 1.0 §2.7), an empty
      // one included; the markup just stepped over (one piece per run) starts at markupAt.
      if (markupAt >= 0 && content.startsWith("<![CDATA[", markupAt)) {
        throw new XmlScanError(
          `it holds a CDATA section ${where} its element (at offset ${markupAt})`,
        );
      }
    }
    markupAt = end;
  };
  for (const token of tokens(content, 0, onText)) {
    if (token.kind === "end") {
      const opened = open.pop();
      if (opened === undefined) {
        throw new XmlScanError(`</${token.name}> closes an element it did not open`);
      }
      if (opened !== token.name) throw new XmlScanError(`</${token.name}> closes <${opened}>`);
      bindings?.leave();
      continue;
    }
    if (token.tag.attributes.length > 0) checkAttributes(token.tag);
    if (bindings !== null) {
      bindings.enter(token.tag);
      checkNames(token.tag, bindings);
      if (token.tag.selfClosing) bindings.leave();
    }
    if (open.length === 0) {
      if (root !== null) throw new XmlScanError("it holds more than one element");
      root = token.tag;
    }
    if (!token.tag.selfClosing) open.push(token.tag.name);
  }
  if (open.length !== 0) throw new XmlScanError("the XML is not balanced");
  return root;
}
