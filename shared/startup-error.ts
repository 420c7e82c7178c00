// A dependency that cannot be reached at start: the CLI prints the message as one line and
// exits non-zero, with no stack trace.

export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StartupError";
  }
}

/** Hides the password of a connection URL before it is printed or logged. */
export function redactUrl(url: string): string {
  if (url.startsWith("redis-sentinel://")) {
    // Several hosts in one authority: not a URL `new URL` reads.
    return url
      .replace(/\/\/([^@/]*:)?[^@/]*@/, "//$1***@")
      .replace(/(sentinelPassword=)[^&]*/, "$1***");
  }
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString().replace(/\/$/, "");
  } catch {
    return url;
  }
}

export const START_SERVICES_HINT =
  "start it with the local packages (`rabbitmq-server -detached`, `redis-server --daemonize yes`) " +
  "or `docker compose -f deploy/docker-compose.yml up -d rabbitmq redis`";
