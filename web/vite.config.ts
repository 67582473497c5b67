import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The dashboard is served by the node itself (src/http/web-app.ts) at `/`; `npm run dev -w web`
// proxies the API to a node on :8080 for working on the UI.
export default defineConfig({
  plugins: [react()],
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // maplibre-gl alone is ~800 kB minified: it gets its own long-cached chunk.
    chunkSizeWarningLimit: 1200,
    rollupOptions: {
      output: {
        // uPlot stays with the health view that alone uses it.
        manualChunks: (id: string) => (id.includes('node_modules/maplibre-gl') ? 'maplibre' : id.includes('node_modules/uplot') ? undefined : id.includes('node_modules') ? 'vendor' : undefined),
      },
    },
  },
  server: {
    proxy: { '/api': { target: 'http://127.0.0.1:8080', ws: true }, '/metrics': 'http://127.0.0.1:8080', '/healthz': 'http://127.0.0.1:8080', '/readyz': 'http://127.0.0.1:8080' },
  },
});
