// XML markup read token by token in one pass, without a parser or recursion: start tags (names,
// attributes and namespace declarations as written) and end tags. The SOAP translators cut and
// rewrite envelopes with it; xml-content.ts checks content that must be one element with it.

import {
  characterCode,
  forbiddenCharacter,
  isXmlChar,
  shownReference,
} from "./character-reference";

/** XML the scanner refuses or cannot read (DOCTYPE, broken markup). */
export class XmlScanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "XmlScanError";
  }
}

/** A namespace scope: prefix ("" for the default namespace) → namespace URI. */
export type NamespaceScope = Map<string, string>;

export interface StartTag {
  name: string;
  prefix: string;
  local: string;
  /** Index of "<". */
  start: number;
  /** Index after ">". */
  end: number;
  selfClosing: boolean;
  /** Attributes as written, names unresolved. */
  attributes: Array<[name: string, value: string]>;
  /** Namespace declarations on this tag. */
  declarations: NamespaceScope;
}

export type Token =
  { kind: "start"; tag: StartTag } | { kind: "end"; name: string; start: number; end: number };

// XML 1.0 names (fifth edition), not only ASCII ones: the adapter reads `<st:sünniaeg>` as the
// name it is, and a remote provider may answer with one. Characters beyond the BMP come as
// surrogate pairs (no `u` flag: these expressions run over every tag of an answer).
const ASTRAL = "[\\uD800-\\uDB7F][\\uDC00-\\uDFFF]";
const NAME_START =
  "A-Z_a-z\\u00C0-\\u00D6\\u00D8-\\u00F6\\u00F8-\\u02FF\\u0370-\\u037D\\u037F-\\u1FFF\\u200C-\\u200D\\u2070-\\u218F\\u2C00-\\u2FEF\\u3001-\\uD7FF\\uF900-\\uFDCF\\uFDF0-\\uFFFD";
const NAME_CHAR = `${NAME_START}\\-.0-9\\u00B7\\u0300-\\u036F\\u203F-\\u2040`;
/** An XML name without a colon (NCName), as RegExp source: a prefix or a local name. */
export const NCNAME = `(?:[${NAME_START}]|${ASTRAL})(?:[${NAME_CHAR}]|${ASTRAL})*`;
const NAME = `${NCNAME}(?::${NCNAME})?`;
/** A whole string that is an XML name: an NCName, or two joined by one colon. */
// eslint-disable-next-line no-misleading-character-class -- ranges of name characters, as START_TAG's
export const XML_NAME = new RegExp(`^${NAME}$`);
// XML's white space (the S production): space, tab, CR, LF. JavaScript's `\s` also matches
// U+1680 and U+FEFF, which are name characters: a name followed by thousands of them then a
// stray character made the expressions below backtrack quadratically (16 000 took 1.2 s).
const S = "[ \\t\\r\\n]";
const ATTRIBUTE_NAME = "[^ \\t\\r\\n=/>]+";
// An attribute value holds no "<" (XML's AttValue): one that did would reach a backend's parser,
// which refuses it, after the caller was told 202.
const START_TAG = new RegExp(
  // eslint-disable-next-line no-misleading-character-class -- ranges of name characters, combining marks among them by XML's rule
  `<(${NAME})((?:${S}+${ATTRIBUTE_NAME}${S}*=${S}*(?:"[^"<]*"|'[^'<]*'))*)${S}*(/?)>`,
  "y",
);
// eslint-disable-next-line no-misleading-character-class -- as START_TAG's
const END_TAG = new RegExp(`</(${NAME})${S}*>`, "y");
// Run only over the attributes of a tag START_TAG matched, where every name is followed by "=".
// eslint-disable-next-line regexp/no-super-linear-move -- see above
const ATTRIBUTE = new RegExp(`(${ATTRIBUTE_NAME})${S}*=${S}*(?:"([^"<]*)"|'([^'<]*)')`, "g");
// Every "&": a reference XML knows without a DTD matches one of the groups, any other "&" none.
const ENTITY = /&(?:#x([0-9a-fA-F]+);|#(\d+);|(amp|lt|gt|quot|apos);)?/g;
const NAMED: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/**
 * `value` with its predefined entities and character references replaced. Throws XmlScanError
 * for a reference to a character XML does not allow (`&#0;`, `&#xD800;`, past U+10FFFF): read
 * as one, a remote provider's fault text carried a NUL or a lone surrogate into the status
 * document, the fault written back to a SOAP caller and the logs, none of which a strict reader
 * then reads. Given `at`, where `value` is in the document (an attribute value), also for an
 * "&" that begins no reference XML knows without a DTD (`a="fish & chips"`, `a="&nbsp;"`):
 * a strict parser refuses the whole document for it, and the answer is passed on as written.
 * Without, such an "&" is kept as written (text whose document was checked before). Each
 * character is read once, by the one expression.
 */
export function decodeEntities(value: string, at?: number): string {
  return value.replace(
    ENTITY,
    (reference, hex?: string, dec?: string, named?: string, offset?: number) => {
      if (named !== undefined) return NAMED[named];
      if (hex === undefined && dec === undefined) {
        if (at !== undefined) throw unknownReference(at + (offset as number));
        return reference;
      }
      const from = reference.length - 1 - (hex ?? (dec as string)).length;
      const code = characterCode(
        reference,
        from,
        reference.length - 1,
        hex !== undefined ? 16 : 10,
      );
      if (!isXmlChar(code)) throw forbidden(reference);
      return String.fromCodePoint(code);
    },
  );
}

/** The refusal of a reference to a character XML does not allow, in the SOAP reader's words. */
export function forbidden(reference: string): XmlScanError {
  return new XmlScanError(`character reference ${shownReference(reference)} is not allowed in XML`);
}

/** The refusal of an "&" at `at` that begins no reference XML knows. */
export function unknownReference(at: number): XmlScanError {
  return new XmlScanError(
    `an "&" at offset ${at} begins no character or predefined entity reference`,
  );
}

/**
 * Throws XmlScanError where `text` holds a character XML does not allow written as itself (a raw
 * 0x01 byte, U+FFFF): a reader of the XML it is passed on in refuses it whole, as it refuses a
 * reference to one.
 */
export function checkCharacters(text: string): void {
  const found = forbiddenCharacter(text);
  if (found !== null) {
    throw new XmlScanError(
      `a character XML does not allow (${found.character}) at offset ${found.at}`,
    );
  }
}

export function splitName(name: string): { prefix: string; local: string } {
  const colon = name.indexOf(":");
  return colon < 0
    ? { prefix: "", local: name }
    : { prefix: name.slice(0, colon), local: name.slice(colon + 1) };
}

/** The attributes and declarations of a tag without attributes (never written to). */
const NO_ATTRIBUTES: ReadonlyArray<[string, string]> = Object.freeze([]);
const NO_DECLARATIONS: ReadonlyMap<string, string> = new Map();

function readStartTag(text: string, at: number): StartTag {
  START_TAG.lastIndex = at;
  const match = START_TAG.exec(text);
  if (!match) throw new XmlScanError(`malformed start tag at offset ${at}`);
  // Most tags of a large answer have no attributes: they share one empty list and scope
  // instead of allocating them, a third of the time an answer of 2 million such tags took.
  let attributes = NO_ATTRIBUTES as Array<[string, string]>;
  let declarations = NO_DECLARATIONS as NamespaceScope;
  if (match[2] !== "") {
    attributes = [];
    declarations = new Map();
    // Where the attributes begin: each value's offset in the text names a refused "&" in it.
    const from = at + 1 + match[1].length;
    for (const attribute of match[2].matchAll(ATTRIBUTE)) {
      const [whole, name, double, single] = attribute;
      const raw = double ?? single;
      // The value ends just before the closing quote, the attribute's last character.
      const value = decodeEntities(raw, from + attribute.index + whole.length - 1 - raw.length);
      attributes.push([name, value]);
      if (name === "xmlns") declarations.set("", value);
      else if (name.startsWith("xmlns:")) declarations.set(name.slice(6), value);
    }
    if (
      attributes.length > 1 &&
      new Set(attributes.map(([name]) => name)).size < attributes.length
    ) {
      throw new XmlScanError(`a start tag at offset ${at} names an attribute twice`);
    }
  }
  const { prefix, local } = splitName(match[1]);
  return {
    name: match[1],
    prefix,
    local,
    start: at,
    end: START_TAG.lastIndex,
    selfClosing: match[3] === "/",
    attributes,
    declarations,
  };
}

/**
 * Element tokens in document order; comments, CDATA, PIs and text are stepped over, each run of
 * text (from `from` to the first markup, between two, after the last) handed to `onText` when
 * given.
 */
export function* tokens(
  text: string,
  from = 0,
  onText?: (start: number, end: number) => void,
): Generator<Token> {
  let at = text.indexOf("<", from);
  onText?.(from, at < 0 ? text.length : at);
  while (at >= 0) {
    let next: number;
    if (text.startsWith("<!--", at)) {
      next = text.indexOf("-->", at + 4);
      if (next < 0) throw new XmlScanError("unterminated comment");
      next += 3;
    } else if (text.startsWith("<![CDATA[", at)) {
      next = text.indexOf("]]>", at + 9);
      if (next < 0) throw new XmlScanError("unterminated CDATA section");
      next += 3;
    } else if (text.startsWith("<?", at)) {
      next = text.indexOf("?>", at + 2);
      if (next < 0) throw new XmlScanError("unterminated processing instruction");
      next += 2;
    } else if (text.startsWith("<!", at)) {
      throw new XmlScanError("a DOCTYPE or other declaration is not accepted");
    } else if (text.startsWith("</", at)) {
      END_TAG.lastIndex = at;
      const match = END_TAG.exec(text);
      if (!match) throw new XmlScanError(`malformed end tag at offset ${at}`);
      next = END_TAG.lastIndex;
      yield { kind: "end", name: match[1], start: at, end: next };
    } else {
      const tag = readStartTag(text, at);
      next = tag.end;
      yield { kind: "start", tag };
    }
    at = text.indexOf("<", next);
    onText?.(next, at < 0 ? text.length : at);
  }
}
