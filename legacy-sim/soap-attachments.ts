// The simulator's SOAP attachments (SwA and MTOM): a multipart/related request is split with the
// `soap` package's own MIME reader (not Sluice's), and the answer echoes every attachment back,
// headers and bytes unchanged, in the packaging the request used.

import { randomUUID } from "node:crypto";
import { parseMTOMResp } from "soap/lib/utils";

export interface SimPart {
  /** Header names lower-case, as the `soap` package's reader gives them. */
  headers: Record<string, string>;
  data: Buffer;
}

export interface SimMultipart {
  /** The envelope's text (root part, UTF-8). */
  envelope: string;
  attachments: SimPart[];
  /** The root part was application/xop+xml. */
  mtom: boolean;
}

function parameter(contentType: string, name: string): string | undefined {
  const match = new RegExp(`;\\s*${name}\\s*=\\s*(?:"([^"]*)"|([^;\\s]*))`, "i").exec(contentType);
  return match ? (match[1] ?? match[2]) : undefined;
}

const bare = (id: string) => id.trim().replace(/^<|>$/g, "");

/** True for a multipart/related Content-Type. */
export function isMultipart(contentType: string | null): boolean {
  return /^\s*multipart\/related\b/i.test(contentType ?? "");
}

/** Splits a multipart/related SOAP request; a string says what is wrong with it. */
export async function readMultipart(
  body: Buffer,
  contentType: string,
): Promise<SimMultipart | string> {
  const boundary = parameter(contentType, "boundary");
  if (!boundary) return "multipart/related without a boundary";
  const parsed = await new Promise<{
    parts: Array<{ headers: Record<string, string>; body: Buffer }>;
  } | null>((resolve) => {
    parseMTOMResp(body, boundary, (error, result) =>
      resolve(error || !result ? null : (result as never)),
    ).catch(() => resolve(null));
  });
  const parts = (parsed?.parts ?? []).filter((part) => Buffer.isBuffer(part.body));
  if (parts.length === 0) return "the multipart body has no parts";
  const start = parameter(contentType, "start");
  const rootIndex =
    start === undefined
      ? 0
      : parts.findIndex((p) => bare(p.headers["content-id"] ?? "") === bare(start));
  if (rootIndex < 0) return `no part has the start Content-ID ${start}`;
  const root = parts[rootIndex];
  return {
    envelope: root.body.toString("utf8"),
    attachments: parts
      .filter((_, index) => index !== rootIndex)
      .map((part) => ({ headers: part.headers, data: part.body })),
    mtom: /^\s*application\/xop\+xml/i.test(root.headers["content-type"] ?? ""),
  };
}

/** The answer envelope with `attachments` beside it, packed like the request was. */
export function writeMultipart(
  envelope: string,
  attachments: SimPart[],
  mtom: boolean,
): { contentType: string; body: Buffer } {
  const boundary = `sim-${randomUUID()}`;
  const rootId = `answer.${randomUUID()}@legacy-sim`;
  const rootType = mtom
    ? 'application/xop+xml; charset=utf-8; type="text/xml"'
    : "text/xml; charset=utf-8";
  const chunks: Buffer[] = [
    Buffer.from(`--${boundary}\r\nContent-Type: ${rootType}\r\nContent-ID: <${rootId}>\r\n\r\n`),
    Buffer.from(envelope, "utf8"),
  ];
  for (const part of attachments) {
    const head = Object.entries(part.headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join("");
    chunks.push(Buffer.from(`\r\n--${boundary}\r\n${head}\r\n`), part.data);
  }
  chunks.push(Buffer.from(`\r\n--${boundary}--\r\n`));
  const type = mtom
    ? `multipart/related; type="application/xop+xml"; start="<${rootId}>"; start-info="text/xml"; boundary=${boundary}`
    : `multipart/related; type="text/xml"; start="<${rootId}>"; boundary=${boundary}`;
  return { contentType: type, body: Buffer.concat(chunks) };
}
