// Preloaded into kinesis-local (node --require) by scripts/stack: kinesis-local hard-codes the
// listen host 0.0.0.0 and has no setting for it, so every wildcard (or missing) host given to
// net.Server#listen is rewritten to 127.0.0.1: the emulators are reachable from this machine only.
'use strict';
const net = require('net');

const LOOPBACK = '127.0.0.1';
const WILDCARDS = new Set([undefined, null, '', '0.0.0.0', '::', '::0']);
const originalListen = net.Server.prototype.listen;

net.Server.prototype.listen = function listenOnLoopback(...args) {
  const first = args[0];
  if (first !== null && typeof first === 'object' && !Array.isArray(first)) {
    // listen(options[, callback]); a unix socket path or an fd handle is left alone
    if (first.path === undefined && first.fd === undefined && first.handle === undefined &&
        WILDCARDS.has(first.host)) {
      args[0] = { ...first, host: LOOPBACK };
    }
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    // listen(port[, host][, backlog][, callback])
    if (typeof args[1] === 'string' || args[1] === undefined || args[1] === null) {
      if (WILDCARDS.has(args[1])) args[1] = LOOPBACK;
    } else {
      args.splice(1, 0, LOOPBACK);
    }
  }
  return originalListen.apply(this, args);
};
