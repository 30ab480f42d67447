// Loaded into every operator process the tests start (`node --import loopback-guard.mjs`): nothing
// the operator does in a test may leave this machine. A connection to anything but loopback (and
// the e2e suite's Pod bridge) is refused before a packet is sent, and so is a DNS lookup of any
// name but localhost, so a made-up host in a test (harbor.example.com, index.docker.io) is never
// contacted, on this machine or on one with internet. Each refusal is written to stderr (the
// operator's log) as a line starting with "[loopback-guard]"; the harness fails the test that
// caused one (harness/operator.ts).
import dns from 'node:dns';
import net from 'node:net';

const MARK = '[loopback-guard]';
/** Extra CIDRs that count as local (the e2e bridge), from the harness. */
const extra = (process.env.REGCRED_TEST_LOCAL_NETWORKS ?? '')
  .split(',')
  .map((cidr) => cidr.trim())
  .filter(Boolean)
  .map((cidr) => {
    const [base, bits] = cidr.split('/');
    return { base: ipv4ToInt(base), mask: bits === '0' ? 0 : (~0 << (32 - Number(bits))) >>> 0 };
  });

function ipv4ToInt(ip) {
  return ip.split('.').reduce((acc, part) => ((acc << 8) + Number(part)) >>> 0, 0);
}

function isLocal(host) {
  if (host === undefined || host === null || host === '' || host === 'localhost') return true;
  const bare = String(host).replace(/^\[|\]$/g, '');
  if (bare === '::1' || bare === '::ffff:127.0.0.1') return true;
  if (net.isIPv4(bare)) {
    const ip = ipv4ToInt(bare);
    if (ip >>> 24 === 127) return true;
    return extra.some(({ base, mask }) => (ip & mask) === (base & mask));
  }
  return false;
}

function refuse(what) {
  process.stderr.write(`${MARK} refused ${what}: tests never leave this machine\n`);
  const error = new Error(`${MARK} refused ${what}`);
  error.code = 'ECONNREFUSED';
  return error;
}

// Every TCP client (http, https, tls, undici, the AWS SDK) connects through net.Socket.
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function guardedConnect(...args) {
  const first = args[0];
  const options = Array.isArray(first) ? first[0] : first;
  const host =
    typeof options === 'object' && options !== null ? options.host : typeof args[1] === 'string' ? args[1] : undefined;
  // A Unix socket: a path and no host (http's own options carry `path` too, with a host).
  const isPipe = typeof options === 'object' && options !== null && typeof options.path === 'string' && !options.host;
  if (!isPipe && !isLocal(host)) {
    const port = typeof options === 'object' && options !== null ? options.port : first;
    const error = refuse(`a connection to ${host}:${port}`);
    process.nextTick(() => this.destroy(error));
    return this;
  }
  return connect.apply(this, args);
};

// Names: only localhost resolves.
const lookup = dns.lookup;
dns.lookup = function guardedLookup(hostname, options, callback) {
  const cb = typeof options === 'function' ? options : callback;
  if (!isLocal(hostname) && !net.isIP(hostname)) {
    const error = refuse(`a DNS lookup of ${hostname}`);
    error.code = 'ENOTFOUND';
    process.nextTick(() => cb(error));
    return {};
  }
  return lookup.call(this, hostname, options, callback);
};
const promisesLookup = dns.promises.lookup;
dns.promises.lookup = async function guardedPromisesLookup(hostname, options) {
  if (!isLocal(hostname) && !net.isIP(hostname)) {
    const error = refuse(`a DNS lookup of ${hostname}`);
    error.code = 'ENOTFOUND';
    throw error;
  }
  return promisesLookup.call(this, hostname, options);
};
