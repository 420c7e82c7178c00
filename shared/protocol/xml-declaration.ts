// The XML declaration (XML 1.0 §2.8, XMLDecl) at a document's very start, checked as a strict
// reader checks it, and the processing instructions whose target XML reserves. The SOAP reader
// and the check of a REST caller's XML body both read them here.

import { NCNAME } from "./xml-tokens";

/** A declaration that is not XML's, or a processing instruction with a reserved target. */
export class XmlDeclarationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "XmlDeclarationError";
  }
}

// XML's white space (S): space, tab, CR, LF.
const S = "[ \\t\\r\\n]";
/** `<?` and a target of "xml" in any case, ended by white space, `?` or the text's end. */
const XML_TARGET = /^<\?([Xx][Mm][Ll])(?=[ \t\r\n?]|$)/;
/**
 * `<?` and a target that is an XML name without a colon (XML 1.0 §2.6 PITarget, Namespaces in
 * XML §7), ended by white space or `?>` (or the text's end: the instruction's end is the
 * caller's to look for, with its own words).
 */
const PI_TARGET = new RegExp(`<\\?${NCNAME}(?=[ \\t\\r\\n]|\\?>|\\??$)`, "y");
/** One pseudo-attribute of the declaration, from the white space before it. */
const PSEUDO_ATTRIBUTE = new RegExp(`${S}+([A-Za-z]+)${S}*=${S}*(?:"([^"]*)"|'([^']*)')`, "y");
const END = new RegExp(`${S}*\\?>`, "y");
const VERSION = /^1\.[0-9]+$/;
const ENCODING_NAME = /^[A-Za-z][A-Za-z0-9._-]*$/;

/**
 * Whether `text` has, at `at`, a processing instruction whose target is "xml" in any case: the
 * XML declaration, or a name XML reserves (its PITarget excludes them), which a strict reader
 * such as the security server's refuses; or one whose target is no name at all (`<?'p?>`,
 * `<? p?>`, `<?1?>`), which the same reader refuses and was stepped over unread. Its words when
 * it is not allowed there: a declaration anywhere but the very start (white space or a comment
 * before it, a second one), or "XML" and the other spellings anywhere.
 */
export function reservedInstruction(
  text: string,
  at: number,
  /** False where the text's declaration, if any, was taken off before. */
  declarationAllowed = at === 0,
): string | null {
  const target = XML_TARGET.exec(text.slice(at, at + 6))?.[1];
  if (target === undefined) {
    PI_TARGET.lastIndex = at;
    return PI_TARGET.test(text)
      ? null
      : "a processing instruction whose target is no XML name (<? is followed by a name, then white space or ?>)";
  }
  if (target !== "xml") {
    return `a processing instruction named "${target}" (the names xml in any case are reserved; the declaration is written <?xml)`;
  }
  return declarationAllowed ? null : "an XML declaration is allowed only at the very start";
}

/**
 * Where the XML declaration `text` starts with ends (after its `?>`), or 0 when it starts with
 * none. Throws XmlDeclarationError for one XML 1.0 §2.8 does not allow: a version first and of
 * the form 1.x (a 1.x other than 1.0 is read as 1.0, as §2.8 tells a 1.0 reader to), then an
 * optional encoding name, then an optional standalone of yes or no, nothing else, in that order.
 */
export function xmlDeclarationEnd(text: string): number {
  if (!text.startsWith("<?")) return 0;
  const reserved = reservedInstruction(text, 0);
  if (reserved !== null) throw new XmlDeclarationError(reserved);
  if (!XML_TARGET.test(text.slice(0, 6))) return 0;
  const close = text.indexOf("?>", 5);
  if (close === -1) throw new XmlDeclarationError("the XML ends inside the XML declaration");
  const expected = ["version", "encoding", "standalone"];
  let next = 0;
  let at = 5;
  for (;;) {
    END.lastIndex = at;
    if (END.test(text) && END.lastIndex === close + 2) break;
    PSEUDO_ATTRIBUTE.lastIndex = at;
    const match = PSEUDO_ATTRIBUTE.exec(text);
    if (match === null || PSEUDO_ATTRIBUTE.lastIndex > close) {
      throw new XmlDeclarationError(
        `the XML declaration is malformed: ${JSON.stringify(text.slice(0, Math.min(close + 2, 80)))}`,
      );
    }
    const [, name, double, single] = match;
    const value = double ?? single;
    const position = expected.indexOf(name, next);
    if (position === -1 || (next === 0 && position !== 0)) {
      throw new XmlDeclarationError(
        next === 0
          ? 'the XML declaration does not begin with its version (<?xml version="1.0" …?>)'
          : `the XML declaration has "${name}" where XML 1.0 §2.8 allows only version, encoding and standalone, in that order`,
      );
    }
    if (name === "version" && !VERSION.test(value)) {
      throw new XmlDeclarationError(`the XML declaration's version "${value}" is not XML 1.x`);
    }
    if (name === "encoding" && !ENCODING_NAME.test(value)) {
      throw new XmlDeclarationError(
        `the XML declaration's encoding "${value}" is no encoding name`,
      );
    }
    if (name === "standalone" && value !== "yes" && value !== "no") {
      throw new XmlDeclarationError(
        `the XML declaration's standalone is "${value}", where only "yes" and "no" are allowed`,
      );
    }
    next = position + 1;
    at = PSEUDO_ATTRIBUTE.lastIndex;
  }
  if (next === 0) {
    throw new XmlDeclarationError(
      'the XML declaration does not begin with its version (<?xml version="1.0" …?>)',
    );
  }
  return close + 2;
}
