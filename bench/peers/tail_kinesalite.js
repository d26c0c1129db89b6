// Starts kinesalite in memory on 127.0.0.1:PORT for bench/tail.sh; prints "ready" when listening.
// Usage: NODE_PATH=.tools/bench-npm/node_modules node bench/peers/tail_kinesalite.js PORT
'use strict';
const kinesalite = require('kinesalite');
const port = Number(process.argv[2]);
const server = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 1000 });
server.listen(port, '127.0.0.1', (err) => {
  if (err) { console.error(err); process.exit(1); }
  console.log('ready');
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
