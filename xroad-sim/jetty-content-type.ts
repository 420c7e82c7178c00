// The Content-Type header Jetty 11.0.17 writes for X-Road 7.4's answers, all of which set the
// character encoding to UTF-8 (HttpServletResponse.setCharacterEncoding) besides a type.

/**
 * Jetty's MimeTypes.Type entries that Response.setContentType recognises (its CACHE, case
 * insensitive, `; charset=` read as `;charset=`) and writes in their own form instead of the
 * string it was given. Only those an X-Road answer can carry are listed.
 */
const JETTY_FORMS = new Map(
  ["text/xml;charset=utf-8", "text/xml;charset=iso-8859-1", "application/json;charset=utf-8"].map(
    (form) => [form, form],
  ),
);

/** Types whose charset Jetty takes as given (MimeTypes.Type.isCharsetAssumed): none is added. */
const CHARSET_ASSUMED = new Set(["application/json"]);

/**
 * What Jetty 11.0.17's Response writes for `contentType` on an answer whose character encoding
 * X-Road sets to UTF-8 (Response.setContentType, setCharacterEncoding): a type without a
 * charset gets `;charset=utf-8` appended (StringUtil.normalizeCharset), unless Jetty assumes
 * its charset (`application/json` stays as it is); a type Jetty knows is written in its own
 * form (`text/xml; charset=UTF-8` as `text/xml;charset=utf-8`); any other is written as given.
 */
export function jettyUtf8ContentType(contentType: string): string {
  const hasCharset = /;\s*charset=/i.test(contentType);
  const base = contentType.split(";", 1)[0].trim().toLowerCase();
  const typed =
    hasCharset || CHARSET_ASSUMED.has(base) ? contentType : `${contentType};charset=utf-8`;
  return JETTY_FORMS.get(typed.toLowerCase().replace(/;\s*charset=/, ";charset=")) ?? typed;
}
