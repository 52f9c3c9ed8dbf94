// The official Sinch Node SDK (@sinch/conversation) against the alimtalk sandbox.
//   node sandbox_sinch_sdk.js <base_url> <project_id> <key_id> <key_secret> <app_id> <msisdn>
// Sends one KakaoTalk AlimTalk template message (template "welcome" of
// spec/fixtures/templates.json) through the SDK's own OAuth2 and messages:send calls, pointed at
// the sandbox with conversationHostname/authHostname, and prints the SDK's answer as JSON.
'use strict';
const { ConversationService } = require('@sinch/conversation');

async function main() {
  const [baseUrl, projectId, keyId, keySecret, appId, msisdn] = process.argv.slice(2);
  const service = new ConversationService({
    projectId, keyId, keySecret,
    conversationHostname: baseUrl,
    authHostname: baseUrl,
  });
  const response = await service.messages.sendTemplateMessage({
    sendMessageRequestBody: {
      app_id: appId,
      recipient: { identified_by: { channel_identities: [{ channel: 'KAKAOTALK', identity: msisdn }] } },
      message: {
        template_message: {
          channel_template: {
            KAKAOTALK: {
              template_id: 'welcome',
              version: '1',
              language_code: 'ko',
              parameters: { name: '홍길동', date: '2026-11-21' },
            },
          },
        },
      },
      channel_priority_order: ['KAKAOTALK'],
    },
  });
  process.stdout.write(JSON.stringify({ ok: true, response }) + '\n');
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ ok: false, error: String(err && err.message || err) }) + '\n');
  process.exitCode = 1;
});
