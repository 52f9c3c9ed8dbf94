// Independent Sinch webhook signatures for spec/webhook_sinch_spec.lua.
//   node webhook_sinch.js sign <secret> <epoch-seconds> <file>...
//     prints a JSON list of { file, body, headers } signed with Node's crypto
//   node webhook_sinch.js sdk-validate <secret>
//     reads a JSON list of { headers, body } on stdin and prints a JSON list of booleans from
//     the official @sinch/conversation SDK's validator, or {"unavailable": reason}
'use strict';
const crypto = require('crypto');
const fs = require('fs');

function sign(secret, body, nonce, timestamp) {
  return crypto.createHmac('sha256', secret).update(`${body}.${nonce}.${timestamp}`).digest('base64');
}

function cmdSign(args) {
  const [secret, ts, ...files] = args;
  const out = files.map((file, i) => {
    const body = fs.readFileSync(file, 'utf8').replace(/\n$/, '');
    const nonce = crypto.randomBytes(12).toString('hex') + i;
    return {
      file, body,
      headers: {
        'x-sinch-webhook-signature': sign(secret, body, nonce, ts),
        'x-sinch-webhook-signature-timestamp': ts,
        'x-sinch-webhook-signature-nonce': nonce,
        'x-sinch-webhook-signature-algorithm': 'HmacSHA256',
      },
    };
  });
  process.stdout.write(JSON.stringify(out));
}

function findValidator(secret) {
  let conv;
  try { conv = require('@sinch/conversation'); } catch (e) { return { unavailable: 'no @sinch/conversation' }; }
  const Cls = conv.ConversationCallbackWebhooks;
  if (typeof Cls !== 'function') return { unavailable: 'no ConversationCallbackWebhooks' };
  const hooks = new Cls(secret);
  if (typeof hooks.validateAuthenticationHeader !== 'function') {
    return { unavailable: 'no validateAuthenticationHeader' };
  }
  return { validate: (headers, body) => hooks.validateAuthenticationHeader(headers, body) };
}

function cmdSdk(args) {
  const v = findValidator(args[0]);
  if (v.unavailable) { process.stdout.write(JSON.stringify({ unavailable: v.unavailable })); return; }
  const cases = JSON.parse(fs.readFileSync(0, 'utf8'));
  process.stdout.write(JSON.stringify(cases.map((c) => Boolean(v.validate(c.headers, c.body)))));
}

const [cmd, ...rest] = process.argv.slice(2);
if (cmd === 'sign') cmdSign(rest);
else if (cmd === 'sdk-validate') cmdSdk(rest);
else { process.stderr.write('usage: webhook_sinch.js sign|sdk-validate ...\n'); process.exit(2); }
