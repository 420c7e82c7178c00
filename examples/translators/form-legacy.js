// An example custom translator: sends a JSON request to a legacy CGI system as a form-encoded
// POST and turns its `KEY=value` receipt into two responses (a JSON result, then the receipt).
//
// Configure it per backend (the path is relative to the configuration file):
//   backends:
//     registry:
//       translator: ./translators/form-legacy.js
//       url: http://legacy.example.org/cgi-bin
//       timeout: 20s
//       options: { latin1: true }
//
// The legacy contract this example assumes:
//   POST <url>/<serviceCode>.cgi, body SERVICE=<serviceCode>&REQUEST_ID=<id>&<one field per JSON key>
//   answers text/plain lines RC=<code>, REF=<reference>, MSG=<text>;
//   RC=0 done, RC 1..89 refused on business grounds, RC 90..99 try again later.

"use strict";
/* global fetch, TextDecoder, Buffer, URLSearchParams */

const MAX_RECEIPT_BYTES = 64 * 1024;

/**
 * @param {{ name: string, url: string, timeoutMs: number, options: Record<string, unknown> }} backend
 * @param {{ BackendRejectedError: any, BackendUnavailableError: any }} kit the error classes the worker reads
 */
function createTranslator(backend, kit) {
  const { BackendRejectedError, BackendUnavailableError } = kit;
  const base = backend.url.replace(/\/+$/, "");
  const decoder = new TextDecoder(backend.options.latin1 ? "latin1" : "utf-8");

  return {
    async call(request, call) {
      const { form, unmappable } = toForm(request);
      if (unmappable) {
        // A shape the legacy form cannot carry: the legacy system would refuse it, so do we.
        throw new BackendRejectedError(
          unmappable,
          jsonResponse(422, { code: "Unmappable", message: unmappable }),
        );
      }
      let res;
      try {
        res = await fetch(`${base}/${encodeURIComponent(request.service)}.cgi`, {
          method: "POST",
          headers: {
            "content-type": "application/x-www-form-urlencoded",
            "idempotency-key": call.idempotencyKey,
          },
          body: form,
          // Aborted at the backend's timeout (the worker counts it) and at shutdown.
          signal: call.signal,
          redirect: "manual",
        });
      } catch (error) {
        throw new BackendUnavailableError(`legacy system unreachable: ${error.message}`, {
          cause: error,
        });
      }

      let text;
      try {
        text = decoder.decode(await readBounded(res));
      } catch (error) {
        throw new BackendUnavailableError(`legacy receipt unreadable: ${error.message}`, {
          cause: error,
        });
      }
      if (res.status === 429 || res.status >= 500) {
        throw new BackendUnavailableError(`legacy system answered ${res.status}`);
      }
      const receipt = parseReceipt(text);
      const rc = Number(receipt.RC);
      if (!res.ok || !Number.isInteger(rc)) {
        // Not the legacy contract at all: let the worker dead-letter it for an operator.
        throw new Error(`legacy system answered ${res.status} without a return code`);
      }
      if (rc >= 90) {
        throw new BackendUnavailableError(`legacy system busy (RC=${rc})`, { retryAfterMs: 30000 });
      }
      if (rc !== 0) {
        throw new BackendRejectedError(
          `legacy system refused (RC=${rc})`,
          jsonResponse(422, { code: `RC${rc}`, message: receipt.MSG ?? "" }),
        );
      }
      return [
        jsonResponse(200, { reference: receipt.REF ?? null, message: receipt.MSG ?? "" }),
        { status: 200, contentType: "text/plain; charset=utf-8", body: text, bodyEncoding: "utf8" },
      ];
    },
  };
}

/** `{ form }` with the form body, or `{ unmappable }` saying why the request has no form shape. */
function toForm(request) {
  let fields = {};
  if (request.body !== "") {
    const text =
      request.bodyEncoding === "base64"
        ? Buffer.from(request.body, "base64").toString("utf8")
        : request.body;
    try {
      fields = JSON.parse(text);
    } catch {
      return { unmappable: "the request body is not JSON" };
    }
  }
  if (typeof fields !== "object" || fields === null || Array.isArray(fields)) {
    return { unmappable: "the request body must be a JSON object" };
  }
  const form = new URLSearchParams({ SERVICE: request.service, REQUEST_ID: request.id });
  for (const [key, value] of Object.entries(fields)) {
    if (value !== null && typeof value === "object")
      return { unmappable: `field ${key} is not a plain value` };
    form.append(key.toUpperCase(), value === null ? "" : String(value));
  }
  return { form: form.toString() };
}

function parseReceipt(text) {
  const receipt = {};
  for (const line of text.split(/\r?\n/)) {
    const at = line.indexOf("=");
    if (at > 0) receipt[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return receipt;
}

function jsonResponse(status, value) {
  return {
    status,
    contentType: "application/json",
    body: JSON.stringify(value),
    bodyEncoding: "utf8",
  };
}

// A receipt is a few lines; anything bigger is not the legacy system talking.
async function readBounded(res) {
  const chunks = [];
  let size = 0;
  if (res.body) {
    for await (const chunk of res.body) {
      size += chunk.length;
      // Leaving the loop early cancels the stream, so the connection is not left hanging.
      if (size > MAX_RECEIPT_BYTES) {
        throw new Error(`receipt larger than ${MAX_RECEIPT_BYTES} bytes`);
      }
      chunks.push(chunk);
    }
  }
  return Buffer.concat(chunks);
}

module.exports = { createTranslator };
