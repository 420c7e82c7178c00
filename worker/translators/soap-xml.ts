// The soap translator's view of XML text: finds the Body of a backend's SOAP answer without
// re-serialising anything, and makes element slices carry every namespace they rely on.

import {
  checkCharacters,
  decodeEntities,
  forbidden,
  splitName,
  tokens,
  unknownReference,
  XmlScanError,
  type NamespaceScope,
  type StartTag,
} from "../../shared/protocol/xml-tokens";
import { bareAmpersand, rootElement } from "../../shared/protocol/xml-content";
import { NamespaceBindings } from "../../shared/protocol/namespace-bindings";
import { forbiddenReference } from "../../shared/protocol/character-reference";

export const SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/";
export const SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope";

function escapeAttribute(value: string): string {
  return value.replace(/[&<"]/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : "&quot;"));
}

/** The Body of a SOAP answer, as found in the answer's text. */
export interface SoapBody {
  /** Namespace URI of the Envelope (SOAP 1.1 or 1.2). */
  envelopeNamespace: string;
  /** Offset of the Envelope's start tag in the text. */
  envelopeStart: number;
  /** Offset just past the Envelope's end tag: only white space or comments may follow it. */
  envelopeEnd: number;
  /** Everything between the Body's start and end tags, exactly as sent. */
  innerXml: string;
  /** The first element inside the Body, or null for an empty Body. */
  firstElement: { local: string; namespace: string | null; xml: string } | null;
}

function resolve(prefix: string, scopes: NamespaceScope[]): string | null {
  for (let i = scopes.length - 1; i >= 0; i--) {
    const uri = scopes[i].get(prefix);
    if (uri !== undefined) return uri === "" ? null : uri;
  }
  if (prefix === "xml") return "http://www.w3.org/XML/1998/namespace";
  return null;
}

/**
 * Finds the Body of a SOAP 1.1/1.2 envelope. Returns null when the text is not a SOAP
 * envelope at all; throws XmlScanError for a DOCTYPE, markup too broken to find the Body, or a
 * character XML does not allow, written as itself (a raw 0x01) anywhere in the text or as a
 * reference (`&#0;`) in its text or attribute values, or an "&" in its text or attribute values
 * that begins no reference XML knows without a DTD (`&nbsp;`): the answer is passed on as written, and a
 * strict reader of it (a SOAP caller, the security server) refuses it whole.
 */
export function findSoapBody(text: string): SoapBody | null {
  // One search of the whole text, before the tokens: a raw character is refused wherever it is,
  // in markup the tokens step over (a comment, CDATA) too.
  checkCharacters(text);
  const scopes: NamespaceScope[] = [];
  const names: string[] = [];
  let envelopeNamespace: string | null = null;
  let envelopeStart = 0;
  let body: { tag: StartTag } | null = null;
  let first: { tag: StartTag; namespace: string | null; depth: number } | null = null;
  let firstXml: string | null = null;
  // The Body once it is closed: what follows it is read only as far as the Envelope's end.
  let found: Omit<SoapBody, "envelopeEnd"> | null = null;
  // Attribute values are read by the tokens, which refuse such a reference and such an "&" there.
  const checkText = (start: number, end: number) => {
    // Cut once for both searches, as xml-content.ts's check of a run does.
    const run = text.slice(start, end);
    const refused = forbiddenReference(run);
    if (refused !== null) throw forbidden(refused.reference);
    // An undeclared entity (`&nbsp;`) too: passed on inside Sluice's own envelope, it made the
    // whole answer unreadable to a SOAP caller's parser, under a message shown completed.
    const bare = bareAmpersand(run);
    if (bare >= 0) throw unknownReference(start + bare);
  };

  for (const token of tokens(text, 0, checkText)) {
    if (token.kind === "start") {
      const { tag } = token;
      scopes.push(tag.declarations);
      const depth = names.length;
      // Only the Envelope, the Body and its first element need their namespace. Resolving
      // every element walked all enclosing scopes each time: an answer nested 100 000 deep
      // held the event loop (and every other call of the process) for a minute and a half.
      const namespace = depth <= 2 ? resolve(tag.prefix, scopes) : null;
      if (depth === 0) {
        if (tag.local !== "Envelope" || (namespace !== SOAP11_NS && namespace !== SOAP12_NS)) {
          return null;
        }
        envelopeNamespace = namespace;
        envelopeStart = tag.start;
      } else if (depth === 1 && body === null && tag.local === "Body") {
        if (namespace === envelopeNamespace) {
          body = { tag };
          if (tag.selfClosing) {
            found = {
              envelopeNamespace: namespace as string,
              envelopeStart,
              innerXml: "",
              firstElement: null,
            };
          }
        }
      } else if (depth === 2 && body !== null && first === null) {
        first = { tag, namespace, depth };
        if (tag.selfClosing) firstXml = text.slice(tag.start, tag.end);
      }
      if (tag.selfClosing) scopes.pop();
      else names.push(tag.name);
    } else {
      const open = names.pop();
      scopes.pop();
      if (open !== token.name) {
        throw new XmlScanError(`</${token.name}> closes <${open ?? "nothing"}>`);
      }
      if (first !== null && firstXml === null && names.length === first.depth) {
        firstXml = text.slice(first.tag.start, token.end);
      }
      if (body !== null && found === null && names.length === 1) {
        found = {
          envelopeNamespace: envelopeNamespace as string,
          envelopeStart,
          innerXml: text.slice(body.tag.end, token.start),
          firstElement:
            first === null
              ? null
              : { local: first.tag.local, namespace: first.namespace, xml: firstXml ?? "" },
        };
      }
      if (names.length === 0) {
        if (found !== null) return { ...found, envelopeEnd: token.end };
        break;
      }
    }
  }
  if (envelopeNamespace === null) return null;
  if (found !== null) throw new XmlScanError("the Envelope is not closed");
  throw new XmlScanError(body === null ? "the envelope has no Body" : "the Body is not closed");
}

/** An element inside a SOAP Header, its namespace resolved (see soapHeader). */
export interface HeaderElement {
  /** 1 for the Header's children, 2 for theirs. */
  depth: number;
  local: string;
  namespace: string | null;
  /** Its attributes with their namespaces (an unprefixed attribute has none). */
  attributes: Array<{ local: string; namespace: string | null; value: string }>;
  /** Where it is in the Header's text: its start tag's "<" to its end tag's ">" included. */
  start: number;
  end: number;
}

/**
 * The Header element of a SOAP envelope as written (start tag to end tag), or null when none
 * comes before the Body, with the elements at most `depth` levels inside it in document order.
 * Scans no further than the Header: the Body, however large, is not read. Throws XmlScanError
 * for a Header over `maxBytes` or markup too broken to read.
 */
export function soapHeader(
  text: string,
  maxBytes: number,
  depth = 0,
): { xml: string; elements: HeaderElement[] } | null {
  const scopes: NamespaceScope[] = [];
  const elements: HeaderElement[] = [];
  /** The elements of `elements` still open, innermost last. */
  const open: HeaderElement[] = [];
  let header: StartTag | null = null;
  for (const token of tokens(text)) {
    const at = token.kind === "start" ? token.tag.start : token.start;
    if (header !== null && at - header.start > maxBytes) {
      throw new XmlScanError(`its header is larger than ${maxBytes} bytes`);
    }
    if (token.kind === "start") {
      const { tag } = token;
      const level = scopes.length;
      if (level === 1 && header === null) {
        if (tag.local === "Body") return null;
        if (tag.local === "Header") {
          if (tag.selfClosing) return { xml: text.slice(tag.start, tag.end), elements };
          header = tag;
        }
      }
      scopes.push(tag.declarations);
      // Resolved only this close to the Header: walking every scope for every element of a
      // deeply nested header would cost what findSoapBody avoids.
      if (header !== null && level >= 2 && level - 1 <= depth) {
        const element: HeaderElement = {
          depth: level - 1,
          local: tag.local,
          namespace: resolve(tag.prefix, scopes),
          attributes: tag.attributes
            .filter(([name]) => name !== "xmlns" && !name.startsWith("xmlns:"))
            .map(([name, value]) => {
              const { prefix, local } = splitName(name);
              return { local, namespace: prefix === "" ? null : resolve(prefix, scopes), value };
            }),
          start: tag.start - header.start,
          end: tag.end - header.start,
        };
        elements.push(element);
        if (!tag.selfClosing) open.push(element);
      }
      if (tag.selfClosing) scopes.pop();
    } else {
      scopes.pop();
      if (open.length > 0 && open[open.length - 1].depth === scopes.length - 1) {
        open.pop()!.end = token.end - header!.start;
      }
      if (header !== null && scopes.length === 1) {
        if (token.end - header.start > maxBytes) {
          throw new XmlScanError(`its header is larger than ${maxBytes} bytes`);
        }
        return { xml: text.slice(header.start, token.end), elements };
      }
      if (scopes.length === 0) return null;
    }
  }
  return null;
}

/**
 * How many Header elements an envelope has before its Body. SOAP 1.1 §4 allows one, the
 * Envelope's first child; reading only the first of two would check and keep half a header.
 */
export function headerElementCount(envelope: string): number {
  let depth = 0;
  let count = 0;
  for (const token of tokens(envelope)) {
    if (token.kind === "end") {
      depth -= 1;
      if (depth === 0) break;
      continue;
    }
    if (depth === 1) {
      if (token.tag.local === "Body") break;
      if (token.tag.local === "Header") count += 1;
    }
    if (!token.tag.selfClosing) depth += 1;
  }
  return count;
}

/** The Header element of a SOAP envelope as written (soapHeader without its elements). */
export function soapHeaderXml(text: string, maxBytes: number): string | null {
  return soapHeader(text, maxBytes)?.xml ?? null;
}

/**
 * Prefixes used in element and attribute names of `xml` where nothing in scope declares them:
 * neither `outer` nor an element around the use (a declaration on a sibling does not count).
 */
export function undeclaredPrefixes(xml: string, outer: NamespaceScope = new Map()): string[] {
  const bindings = new NamespaceBindings(outer);
  const unbound = new Set<string>();
  for (const token of tokens(xml)) {
    if (token.kind === "end") {
      bindings.leave();
      continue;
    }
    const tag = token.tag;
    bindings.enter(tag);
    if (tag.prefix !== "" && bindings.resolve(tag.prefix) === undefined) unbound.add(tag.prefix);
    for (const [name] of tag.attributes) {
      const { prefix } = splitName(name);
      if (prefix !== "" && prefix !== "xmlns" && bindings.resolve(prefix) === undefined) {
        unbound.add(prefix);
      }
    }
    if (tag.selfClosing) bindings.leave();
  }
  return [...unbound];
}

function hasUnprefixedElement(xml: string): boolean {
  for (const token of tokens(xml)) {
    if (token.kind === "start" && token.tag.prefix === "") return true;
  }
  return false;
}

/**
 * `content` (the exact XML of one element, cut out of a larger document or sent by a caller) with
 * the declarations of `scope` added to the element's start tag where it does not redeclare them,
 * so it means the same wherever it is put. Declarations are copied whole rather than only the
 * used ones: QNames inside text (faultcode `foo:FOOCODE`, `xsi:type="xsd:string"`) rely on them
 * too. Unprefixed elements outside any default namespace get `xmlns=""` so a host document's
 * default namespace cannot capture them. Comments and text around the element stay as they are.
 * Throws XmlScanError for content that is not one element (rootElement).
 *
 * Returns the result and the prefixes its names still use without any declaration.
 */
export function selfContained(
  content: string,
  scope: NamespaceScope,
): { xml: string; unbound: string[] } {
  const defaultNamespace = scope.get("") ?? "";
  const undeclareDefault = defaultNamespace === "" && hasUnprefixedElement(content);
  const tag = rootElement(content);
  const added: string[] = [];
  if (tag !== null) {
    for (const [prefix, uri] of scope) {
      if (prefix === "" || prefix === "xml" || prefix === "xmlns") continue;
      if (!tag.declarations.has(prefix)) added.push(`xmlns:${prefix}="${escapeAttribute(uri)}"`);
    }
    if (!tag.declarations.has("") && (defaultNamespace !== "" || undeclareDefault)) {
      added.push(`xmlns="${escapeAttribute(defaultNamespace)}"`);
    }
  }
  let xml = content;
  if (tag !== null && added.length > 0) {
    const close = tag.end - (tag.selfClosing ? 2 : 1);
    xml = `${content.slice(0, close)} ${added.join(" ")}${content.slice(close)}`;
  }
  return { xml, unbound: undeclaredPrefixes(content, scope) };
}

/**
 * `xml` (one element, with comments, processing instructions or whitespace around it) with
 * that element renamed to `local`, its prefix, attributes and content kept; unchanged when it
 * already has that name or holds no element. The end tag renamed is the element's own, found
 * by reading the markup: not the last thing in the text (a comment may follow it), and the
 * start tag not the first `<` (a comment may come before it).
 */
export function renamedElement(xml: string, local: string): string {
  let root: StartTag | null = null;
  let depth = 0;
  for (const token of tokens(xml)) {
    if (token.kind === "start") {
      root ??= token.tag;
      if (root.local === local) return xml;
      if (token.tag.selfClosing && depth === 0) return renamed(xml, root, local, null);
      if (!token.tag.selfClosing) depth++;
    } else if (--depth === 0) {
      return renamed(xml, root as StartTag, local, token);
    }
  }
  return xml;
}

function renamed(
  xml: string,
  root: StartTag,
  local: string,
  end: { name: string; start: number } | null,
): string {
  const name = root.prefix === "" ? local : `${root.prefix}:${local}`;
  // After "<" and "</": the names as written, which the tokens give.
  const startName = root.start + 1;
  let result = xml.slice(0, startName) + name;
  if (end === null) return result + xml.slice(startName + root.name.length);
  const endName = end.start + 2;
  result += xml.slice(startName + root.name.length, endName) + name;
  return result + xml.slice(endName + end.name.length);
}

/** `text` matched literally inside a RegExp. */
export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Text content of the first `<[p:]name>` element in `xml` that holds only text, or null: entity
 * references decoded, CDATA sections taken as written (they are character data too: a fault's
 * `<faultcode><![CDATA[Server.ServerProxy.AccessDenied]]></faultcode>` went unread, and an
 * access-denied answer was retried as transient), comments dropped.
 */
export function childText(xml: string, local: string): string | null {
  // `[^<>]*`, not `[^>]*`: a start tag holds no "<", and with `[^>]*` every unterminated
  // `<name` read on to the end of the text, once per occurrence. A security server's error
  // body of 144 KB of `<message ` took 2 s; 10 MB (maxResponseBytes) would have taken hours.
  // The name ends where whitespace, `>` or `/` follows: `\b` also ended it before `-` and
  // `.`, so `<faultcode-x>` was read as a `<faultcode>`.
  const name = escapeRegExp(local);
  const start = new RegExp(`<(?:[\\w.-]+:)?${name}(?=[\\s/>])[^<>]*>`, "g");
  const end = new RegExp(`</(?:[\\w.-]+:)?${name}\\s*>`, "y");
  // Each character is read once: a candidate whose content is not plain text is left where its
  // content stopped, and the search goes on from there (a nested element may be the one).
  for (let match = start.exec(xml); match !== null; match = start.exec(xml)) {
    if (match[0].endsWith("/>")) continue;
    let text = "";
    let at = start.lastIndex;
    for (;;) {
      const lt = xml.indexOf("<", at);
      if (lt < 0) return null;
      text += decodeEntities(xml.slice(at, lt));
      if (xml.startsWith("<![CDATA[", lt)) {
        const close = xml.indexOf("]]>", lt + 9);
        // No later section can close either: stop here rather than scan the rest once per `<name>`.
        if (close < 0) return null;
        text += xml.slice(lt + 9, close);
        at = close + 3;
      } else if (xml.startsWith("<!--", lt)) {
        const close = xml.indexOf("-->", lt + 4);
        if (close < 0) return null;
        at = close + 3;
      } else {
        end.lastIndex = lt;
        if (end.test(xml)) return text.trim();
        start.lastIndex = lt;
        break;
      }
    }
  }
  return null;
}
