import { defineConfig } from "vite";

// Built into the Python package: aiotrack/api/ui.py serves ../aiotrack/static.
// base "./" keeps every asset URL relative, so the UI works under any --static-prefix.
export default defineConfig({
  base: "./",
  build: {
    outDir: "../aiotrack/static",
    emptyOutDir: true,
    assetsDir: "assets",
    target: "es2022",
    chunkSizeWarningLimit: 200,
  },
  server: {
    // `npm run dev` proxies the API to a local `aiotrack server` on :5000.
    proxy: {
      "/ajax-api": "http://127.0.0.1:5000",
      "/api": "http://127.0.0.1:5000",
      "/get-artifact": "http://127.0.0.1:5000",
    },
  },
});
