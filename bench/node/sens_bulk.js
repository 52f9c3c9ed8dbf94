// Node baseline for bench/client_bench.lua: send N SENS AlimTalk messages in batches of 100
// with C concurrent requests, doing what our client does per request: render the template,
// build the JSON body, sign it (NCP signature v2, fresh millisecond timestamp) with Node's
// crypto, POST it with fetch, and read every per-message result.
//   node sens_bulk.js BASE_URL SERVICE_ID PLUS_FRIEND_ID ACCESS_KEY TOTAL CONCURRENCY
// Secret key from the SENS_SECRET_KEY environment variable.
// Prints one JSON line: {"messages":N,"accepted":N,"seconds":S,"cpu_seconds":C} (C: this
// process's user + system CPU time over the same span, from process.cpuUsage)
'use strict';
const crypto = require('crypto');

const [base, serviceId, plusFriendId, accessKey, totalArg, concArg] = process.argv.slice(2);
const secretKey = process.env.SENS_SECRET_KEY;
const total = Number(totalArg);
const conc = Number(concArg);
const path = `/alimtalk/v2/services/${serviceId}/messages`;
const body = '#{name}님, 주문하신 상품이 발송되었습니다.\n주문번호: #{order}\n택배사: #{courier}\n송장번호: #{invoice}';

function render(vars) {
  return body.replace(/#\{(\w+)\}/g, (_, k) => vars[k]);
}

function message(i) {
  const vars = { name: `고객${i}`, order: `A${i}`, courier: '우체국택배',
    invoice: String(6302114700000 + i).padStart(13, '0') };
  return {
    to: `010${String(10000000 + i).slice(-8)}`, content: render(vars),
    buttons: [{ type: 'DS', name: '배송조회' },
      { type: 'WL', name: '주문 보기', linkMobile: `https://shop.example/o/A${i}`,
        linkPc: `https://shop.example/o/A${i}` }],
  };
}

async function sendBatch(start, n) {
  const messages = [];
  for (let i = start; i < start + n; i++) messages.push(message(i));
  const payload = JSON.stringify({ plusFriendId, templateCode: 'ORDER_SHIPPED', messages });
  const ts = String(Date.now());
  const sig = crypto.createHmac('sha256', secretKey)
    .update(`POST ${path}\n${ts}\n${accessKey}`).digest('base64');
  const resp = await fetch(base + path, {
    method: 'POST', body: payload,
    headers: { 'Content-Type': 'application/json; charset=utf-8', 'x-ncp-apigw-timestamp': ts,
      'x-ncp-iam-access-key': accessKey, 'x-ncp-apigw-signature-v2': sig },
  });
  const doc = await resp.json();
  let ok = 0;
  for (const m of doc.messages || []) if (m.requestStatusCode === 'A000') ok++;
  return ok;
}

async function main() {
  const batches = [];
  for (let s = 0; s < total; s += 100) batches.push([s, Math.min(100, total - s)]);
  let next = 0;
  let accepted = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  async function worker() {
    while (next < batches.length) {
      const [s, n] = batches[next++];
      const ok = await sendBatch(s, n);   // (not `accepted += await`: that reads first)
      accepted += ok;
    }
  }
  await Promise.all(Array.from({ length: conc }, worker));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  process.stdout.write(JSON.stringify({ messages: total, accepted, seconds, cpu_seconds: cpuSeconds }) + '\n');
}

main().catch((e) => { process.stderr.write(String(e && e.stack || e) + '\n'); process.exit(1); });
