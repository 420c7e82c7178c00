import { expect } from "chai";
import path from "node:path";
import { startSummary } from "../../cli/start-summary";
import { compileConfig } from "../../shared/config/config";

const config = (extra: Record<string, unknown> = {}) =>
  compileConfig(
    {
      services: {
        lookup: { protocols: ["rest"], reply: { mode: "sync" }, backend: "b" },
        testQuery: { protocols: ["soap"], reply: { mode: "sync" }, backend: "s" },
      },
      backends: {
        b: { url: "http://127.0.0.1:1", translator: "rest-json" },
        s: { url: "http://127.0.0.1:1", translator: "soap" },
      },
      ...extra,
    },
    ".",
  );

describe("the start summary (the 'sluice ready' line)", () => {
  it("names the configuration file, the ports and URLs to try", () => {
    const summary = startSummary({
      configFile: path.join(process.cwd(), "config", "demo.yaml"),
      config: config(),
      adapterPort: 8080,
      adminPort: 9090,
      legacySimUrl: "http://127.0.0.1:8090",
    });
    expect(summary).to.deep.equal({
      config: path.join("config", "demo.yaml"),
      port: 8080,
      adminPort: 9090,
      legacySim: "http://127.0.0.1:8090",
      try: [
        "POST http://127.0.0.1:8080/rest/lookup",
        "http://127.0.0.1:8080/soap?wsdl",
        "http://127.0.0.1:9090/readyz",
        "http://127.0.0.1:9090/metrics",
        "http://127.0.0.1:8090/hooks (callbacks received)",
      ],
    });
  });

  it("lists only what this process serves, on the hosts it binds", () => {
    const summary = startSummary({
      configFile: "/etc/sluice/sluice.yaml",
      config: config({ admin: { host: "::1", port: 9090 } }),
      adapterPort: null,
      adminPort: 9191,
      legacySimUrl: null,
    });
    expect(summary).to.deep.equal({
      config: "/etc/sluice/sluice.yaml",
      adminPort: 9191,
      try: ["http://[::1]:9191/readyz", "http://[::1]:9191/metrics"],
    });
  });
});
