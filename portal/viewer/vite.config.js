// Builds the comparison viewer into dist/ with the fixed names the portal links to
// (/viewer/viewer.js, /viewer/viewer.css, and /viewer/prefetch.js, the small module the page
// runs first); the decode worker, codec and shared chunks land in dist/assets/ and resolve
// under the same /viewer/ base.
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/viewer/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    cssCodeSplit: false,
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 8000,
    rollupOptions: {
      input: { viewer: 'src/main.js', prefetch: 'src/prefetch.js' },
      output: {
        entryFileNames: '[name].js',
        chunkFileNames: 'assets/[name]-[hash].js',
        assetFileNames: (asset) =>
          (asset.names ?? [asset.name]).some((n) => n?.endsWith('.css'))
            ? 'viewer.css'
            : 'assets/[name]-[hash][extname]',
      },
    },
  },
  worker: { format: 'es' },
});
