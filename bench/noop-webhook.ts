// The benchmark's floor for the Pod-injection webhook: a Node.js HTTPS server, as the operator's
// webhook is, that answers every AdmissionReview "allowed" without a patch and does nothing else.
// Usage: node --import ./hack/ts-loader.mjs bench/noop-webhook.ts CERT KEY PORT
import { readFileSync } from 'node:fs';
import https from 'node:https';

const [certFile, keyFile, port] = process.argv.slice(2);
const server = https.createServer({ cert: readFileSync(certFile!), key: readFileSync(keyFile!) }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    let uid = '';
    try {
      uid = (JSON.parse(Buffer.concat(chunks).toString()) as { request?: { uid?: string } }).request?.uid ?? '';
    } catch {
      // a probe without a body: answered all the same
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(
      JSON.stringify({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        response: { uid, allowed: true },
      }),
    );
  });
});
server.listen(Number(port), '127.0.0.1', () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
