// XML markup read token by token in one pass, without a parser or recursion: start tags (names,
// attributes and namespace declarations as written) and end tags. The SOAP translators cut and
// rewrite envelopes with it; the adapter checks a REST caller's XML body with it at intake.

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
const NCNAME = `(?:[${NAME_START}]|${ASTRAL})(?:[${NAME_CHAR}]|${ASTRAL})*`;
const NAME = `${NCNAME}(?::${NCNAME})?`;
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
const ENTITY = /&(?:#x([0-9a-fA-F]+)|#(\d+)|(amp|lt|gt|quot|apos));/g;
const NAMED: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

export function decodeEntities(value: string): string {
  return value.replace(ENTITY, (reference, hex?: string, dec?: string, named?: string) => {
    if (named !== undefined) return NAMED[named];
    const code = hex !== undefined ? parseInt(hex, 16) : Number(dec);
    // Past U+10FFFF fromCodePoint throws: a fault's text from a remote provider then failed the
    // message as untranslatable instead of being read as the fault it is. Kept as written.
    return code <= 0x10ffff ? String.fromCodePoint(code) : reference;
  });
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
    for (const [, name, double, single] of match[2].matchAll(ATTRIBUTE)) {
      const value = decodeEntities(double ?? single);
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

// An "&" that begins no reference XML knows without a DTD (its five entities, a character
// reference), or a character XML 1.0 does not allow (C0 controls but tab, LF and CR; U+FFFE,
// U+FFFF). A backend's parser refuses either; `&nbsp;` is the usual one.
const BAD_CHARACTER_DATA =
  // eslint-disable-next-line no-control-regex -- the control characters are what it finds
  /&(?!#x[0-9a-fA-F]+;|#[0-9]+;|(?:amp|lt|gt|quot|apos);)|[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]/;
const CHARACTER_REFERENCE = /&#(?:x([0-9a-fA-F]+)|([0-9]+));/g;

/** Whether `code` is a character XML 1.0 allows (its Char production). */
function isXmlChar(code: number): boolean {
  if (code < 0x20) return code === 0x9 || code === 0xa || code === 0xd;
  if (code <= 0xd7ff) return true;
  if (code < 0xe000) return false;
  return code <= 0xfffd || (code >= 0x10000 && code <= 0x10ffff);
}

/**
 * Throws XmlScanError where `text` between `start` and `end` (a run of text, or a start tag
 * with its attribute values) holds an "&" that begins no known reference, a reference to a
 * character XML does not allow (`&#0;`), or such a character itself.
 */
function checkCharacterData(text: string, start: number, end: number): void {
  if (end <= start) return;
  const run = text.slice(start, end);
  const bad = BAD_CHARACTER_DATA.exec(run);
  if (bad !== null) {
    const offset = start + bad.index;
    throw new XmlScanError(
      bad[0] === "&"
        ? `an "&" at offset ${offset} begins no character or predefined entity reference`
        : `a character XML does not allow (U+${bad[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}) at offset ${offset}`,
    );
  }
  if (!run.includes("&#")) return;
  for (const reference of run.matchAll(CHARACTER_REFERENCE)) {
    const code = reference[1] !== undefined ? parseInt(reference[1], 16) : Number(reference[2]);
    if (!isXmlChar(code)) {
      throw new XmlScanError(
        `${reference[0].slice(0, 16)} at offset ${start + (reference.index ?? 0)} refers to a character XML does not allow`,
      );
    }
  }
}

/**
 * The start tag of the one element `content` holds, with comments, PIs or text around it, or
 * null when it holds none. Throws XmlScanError for content that is not one element: an end tag
 * closing what the content did not open, a second element beside the first, one left open.
 * Content put inside a larger document (a caller's element in the Body of an envelope) could
 * otherwise close what encloses it and write parts of its own there, and an end tag naming
 * another element than the one it closes (`<a><p></Body><Body></p></a>` counts as balanced)
 * could do the same. Reads the whole content in one pass, without recursion: the open
 * elements are a list of their names, bounded by the content's length.
 */
export function rootElement(content: string): StartTag | null {
  let root: StartTag | null = null;
  const open: string[] = [];
  const checkText = (start: number, end: number) => checkCharacterData(content, start, end);
  for (const token of tokens(content, 0, checkText)) {
    if (token.kind === "end") {
      const opened = open.pop();
      if (opened === undefined) {
        throw new XmlScanError(`</${token.name}> closes an element it did not open`);
      }
      if (opened !== token.name) throw new XmlScanError(`</${token.name}> closes <${opened}>`);
      continue;
    }
    if (token.tag.attributes.length > 0) checkText(token.tag.start, token.tag.end);
    if (open.length === 0) {
      if (root !== null) throw new XmlScanError("it holds more than one element");
      root = token.tag;
    }
    if (!token.tag.selfClosing) open.push(token.tag.name);
  }
  if (open.length !== 0) throw new XmlScanError("the XML is not balanced");
  return root;
}
