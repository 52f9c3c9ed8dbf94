// A SENS AlimTalk send signed with Node's own crypto (signature v2), sent to the sandbox.
//   node sandbox_sens_sign.js <base_url> <service_id> <access_key> <secret_key> [tamper]
// With "tamper", one character of the signature is changed before sending. Prints
// {"status": <HTTP status>, "body": <parsed answer>}.
'use strict';
const crypto = require('crypto');

async function main() {
  const [baseUrl, serviceId, accessKey, secretKey, tamper] = process.argv.slice(2);
  const uri = `/alimtalk/v2/services/${encodeURIComponent(serviceId)}/messages`;
  const timestamp = String(Date.now());
  const message = `POST ${uri}\n${timestamp}\n${accessKey}`;
  let signature = crypto.createHmac('sha256', secretKey).update(message).digest('base64');
  if (tamper === 'tamper') {
    const c = signature[3] === 'A' ? 'B' : 'A';
    signature = signature.slice(0, 3) + c + signature.slice(4);
  }
  const body = JSON.stringify({
    plusFriendId: '@sandbox',
    templateCode: 'WELCOME',
    messages: [{ to: '01012345678', content: '홍길동님, 회원가입을 환영합니다.\n가입일: 2026-11-21' }],
  });
  const res = await fetch(baseUrl + uri, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json; charset=utf-8',
      'x-ncp-apigw-timestamp': timestamp,
      'x-ncp-iam-access-key': accessKey,
      'x-ncp-apigw-signature-v2': signature,
    },
    body,
  });
  const text = await res.text();
  let parsed = null;
  try { parsed = JSON.parse(text); } catch (e) { parsed = text; }
  process.stdout.write(JSON.stringify({ status: res.status, body: parsed }) + '\n');
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ status: 0, error: String(err && err.message || err) }) + '\n');
  process.exitCode = 1;
});
