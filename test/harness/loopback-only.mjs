// Loaded into operator processes of the provider tests (node --import): every outgoing connection
// and host name lookup must stay on this machine. A provider SDK that ignored the endpoint it was
// pointed at (HTTPS_PROXY, GCE_METADATA_HOST, AWS_ENDPOINT_URL_*, AZURE_POD_IDENTITY_AUTHORITY_HOST)
// would otherwise reach for a cloud host; here it gets an error instead, and the line below in the
// operator's log, which the tests look for. Loopback addresses and unix sockets only.
import dns from 'node:dns';
import net from 'node:net';

const isLoopback = (host) =>
  host === undefined ||
  host === null ||
  host === '' ||
  host === 'localhost' ||
  /^127\.\d+\.\d+\.\d+$/.test(host) ||
  host === '::1' ||
  host === '[::1]';

function refuse(host) {
  process.stderr.write(`loopback-only guard: refused ${host} (tests must not leave this machine)\n`);
  const err = new Error(`loopback-only guard: refused a connection to ${host}`);
  err.code = 'ELOOPBACKONLY';
  return err;
}

const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function guardedConnect(...args) {
  let first = args[0];
  if (Array.isArray(first)) first = first[0]; // node's internally normalized [options, callback]
  let host;
  if (first !== null && typeof first === 'object') {
    if (first.path) return connect.apply(this, args);
    host = first.host;
  } else if (typeof first === 'number' || /^\d+$/.test(String(first))) {
    host = typeof args[1] === 'string' ? args[1] : undefined;
  } else return connect.apply(this, args); // a unix socket path
  if (!isLoopback(host)) {
    const error = refuse(host);
    process.nextTick(() => this.destroy(error));
    return this;
  }
  return connect.apply(this, args);
};

const lookup = dns.lookup;
dns.lookup = function guardedLookup(hostname, options, callback) {
  if (!isLoopback(hostname)) {
    const done = typeof options === 'function' ? options : callback;
    const error = refuse(hostname);
    process.nextTick(() => done(error));
    return undefined;
  }
  return lookup.call(this, hostname, options, callback);
};
const lookupPromise = dns.promises.lookup;
dns.promises.lookup = function guardedLookupPromise(hostname, options) {
  if (!isLoopback(hostname)) return Promise.reject(refuse(hostname));
  return lookupPromise.call(this, hostname, options);
};
