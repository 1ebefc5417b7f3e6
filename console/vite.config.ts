// Builds the console into the Python package, so the shim serves it without Node.js at run time.
import { defineConfig } from "vite";

export default defineConfig({
  // Relative asset URLs: the shim serves the page under /console/.
  base: "./",
  build: {
    // Relative to this folder (the project root of Vite).
    outDir: "../operator/deployunits/api/console/static",
    emptyOutDir: true,
    // bpmn-js and dmn-js are large; one chunk each keeps the first paint from waiting on dmn-js.
    chunkSizeWarningLimit: 2000,
    sourcemap: false,
  },
});
