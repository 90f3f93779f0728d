// Bundles the client with socket.io-client and the msgpack parser into one minified ES module
// for browsers (dist/tickroom.browser.js), the file the server's demo page loads.
import { build } from "esbuild";

await build({
  entryPoints: ["src/index.ts"],
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2020",
  minify: true,
  legalComments: "none",
  outfile: "dist/tickroom.browser.js",
  logLevel: "warning",
});
