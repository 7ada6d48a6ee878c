// The Node peer of bench_parse.py: smartmeter-obis's D0 parser on the same readout bytes.
//
// Usage: node bench/bench_parse_node.js NODE_MODULES_DIR READOUT_FILE [REPEAT] [cpu]
// ("cpu": time the process's CPU, user + system, instead of wall time)
// (install the peer outside the repository: npm install --prefix DIR smartmeter-obis).
// Prints one JSON line: best microseconds per readout after a warm-up, loops per
// repeat, and how many OBIS entries and errors the parser reported.
'use strict';
const path = require('path');
const fs = require('fs');
const [modules, file, repeatArg, clockArg] = process.argv.slice(2);
const D0Protocol = require(path.join(modules, 'smartmeter-obis', 'lib', 'protocols', 'D0Protocol.js'));
const data = fs.readFileSync(file);
const repeat = Number(repeatArg || 7);
let entries = 0;
let errors = 0;
const protocol = new D0Protocol({ debug: 0, logger: () => {} }, (err, result) => {
  if (err) errors += 1;
  else entries = Object.keys(result).length;
});
function once() {
  protocol.communicationState = 4;  // a sign-on took place: the data message is next
  protocol.handleMessage(data);
}
function cpuSeconds() {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}
function loop(number) {
  if (clockArg === 'cpu') {
    const t0 = cpuSeconds();
    for (let i = 0; i < number; i++) once();
    return cpuSeconds() - t0;
  }
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < number; i++) once();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}
for (let i = 0; i < 2000; i++) once();  // warm-up: the JIT compiles the hot paths
let number = 1;
while (loop(number) < 0.2) number *= 2;
let best = Infinity;
for (let r = 0; r < repeat; r++) best = Math.min(best, loop(number) / number);
errors = 0;
once();
console.log(JSON.stringify({ us: best * 1e6, loops: number, repeat, entries, errors }));
