//! The words the sign-in page's script shows as it runs (progress, and what went wrong,
//! by error code), in English and Japanese. The page renders them into its
//! `<template id="latchkey-words">`; the script carries no words of its own. `{site}`,
//! `{model}`, `{rp}`, `{n}`, `{code}` and `{name}` are filled in by the script.

use super::Locale;

/// Words of the sign-in page's script, by key.
pub type ScriptWords = &'static [(&'static str, &'static str)];

static EN: ScriptWords = &[
    ("preparing-sign-in", "Preparing sign-in…"),
    (
        "follow-prompt-use",
        "Follow your browser’s prompt to use your passkey.",
    ),
    ("checking", "Checking your passkey…"),
    ("preparing-create", "Preparing your new passkey…"),
    (
        "follow-prompt-create",
        "Follow your browser’s prompt to create your passkey.",
    ),
    ("saving", "Saving your passkey…"),
    (
        "unlocking",
        "Confirm once more so that the site can unlock your encrypted data…",
    ),
    ("signed-in", "Signed in. Returning to the site…"),
    ("sending-link", "Sending…"),
    (
        "link-sent",
        "If a confirmed account here uses this address, we have emailed it a link. Open the link in this browser within 15 minutes.",
    ),
    ("enter-email", "Enter the email address of your account."),
    (
        "api-flow_binding_mismatch",
        "This sign-in was started in another browser or tab, or this browser did not keep its cookie. Go back to the site and start again in this browser.",
    ),
    (
        "api-challenge_expired",
        "The sign-in request timed out. Try again.",
    ),
    (
        "api-unknown_credential",
        "This passkey is no longer registered here. Create a new one or pick another.",
    ),
    (
        "api-verification_failed",
        "Your passkey could not be verified. Try again, or pick another passkey.",
    ),
    (
        "api-user_verification_required",
        "Your device did not verify you (PIN, fingerprint or face). Try again and complete the check.",
    ),
    (
        "api-invalid_request",
        "The server did not accept this request. Try again.",
    ),
    (
        "api-payload_too_large",
        "Your browser sent more data than the server accepts. Try again or pick another passkey.",
    ),
    (
        "api-rate_limited",
        "Too many attempts. Wait a moment, then try again.",
    ),
    (
        "api-network_error",
        "Could not reach the server. Check your connection and try again.",
    ),
    (
        "api-bad_response",
        "The server sent an answer this page did not understand. Try again.",
    ),
    (
        "api-server_error",
        "Something went wrong on the server. Try again.",
    ),
    (
        "api-recovery_link_expired",
        "This recovery link has expired or was already used. Ask for a new one.",
    ),
    (
        "api-recovery_unavailable",
        "This site does not offer account recovery by email.",
    ),
    (
        "reason-authenticator_denied",
        "{site} does not accept {model}. Use a passkey from a device or password manager that {site} allows.",
    ),
    (
        "reason-authenticator_not_allowed",
        "{site} does not accept {model}. Use a passkey from a device or password manager that {site} allows.",
    ),
    (
        "reason-synced_passkey",
        "{site} accepts only passkeys that stay on one device, such as a security key, and this passkey is synced between devices. Use a security key or a device-bound passkey.",
    ),
    (
        "reason-attestation_not_verified",
        "{site} needs proof of which device holds the passkey, and this passkey’s device did not give it. Use a security key that {site} has approved.",
    ),
    (
        "reason-counter_regression",
        "This passkey reported a use count lower than before, which can mean it was copied. It was refused; contact the site if this keeps happening.",
    ),
    (
        "reason-another_site",
        "This passkey belongs to another site that uses this sign-in service. Pick another passkey, or create a new one for {site}.",
    ),
    (
        "not-allowed",
        "The passkey prompt was closed or timed out. Try again when you are ready.",
    ),
    (
        "exists",
        "A passkey for this account already exists on this device. Sign in with it instead.",
    ),
    ("aborted", "The passkey request was cancelled. Try again."),
    (
        "no-https",
        "This browser does not support passkeys on this page, because it was not loaded over a secure (HTTPS) connection.",
    ),
    ("unsupported", "This browser does not support passkeys."),
    ("model-named", "passkeys from {name}"),
    ("model-unknown", "this kind of passkey"),
    (
        "related-origins",
        "{rp} has not allowed this sign-in page to use its passkeys yet. Contact the site.",
    ),
    (
        "wait-second",
        "Too many attempts. Wait 1 second, then try again.",
    ),
    (
        "wait-seconds",
        "Too many attempts. Wait {n} seconds, then try again.",
    ),
    ("other", "Something went wrong ({code}). Try again."),
    (
        "ror-refused",
        "This browser refused to use your passkeys for {rp} on this sign-in page. It needs WebAuthn Related Origin Requests, and {rp} must list this page in https://{rp}/.well-known/webauthn. Use an up-to-date Chrome, Edge or Safari, or sign in on {rp} directly.",
    ),
    (
        "security",
        "This browser refused the passkey request for {rp} on this page for security reasons.",
    ),
    (
        "webauthn-other",
        "Something went wrong with the passkey ({name}). Try again.",
    ),
];

static JA: ScriptWords = &[
    ("preparing-sign-in", "サインインを準備しています…"),
    (
        "follow-prompt-use",
        "ブラウザーの案内に従ってパスキーを使ってください。",
    ),
    ("checking", "パスキーを確認しています…"),
    ("preparing-create", "新しいパスキーを準備しています…"),
    (
        "follow-prompt-create",
        "ブラウザーの案内に従ってパスキーを作成してください。",
    ),
    ("saving", "パスキーを保存しています…"),
    (
        "unlocking",
        "暗号化されたデータをサイトで開けるよう、もう一度確認してください…",
    ),
    ("signed-in", "サインインしました。サイトに戻ります…"),
    ("sending-link", "送信しています…"),
    (
        "link-sent",
        "このアドレスを使う確認済みのアカウントがあれば、リンクをメールでお送りしました。15 分以内に、このブラウザーでリンクを開いてください。",
    ),
    (
        "enter-email",
        "アカウントのメールアドレスを入力してください。",
    ),
    (
        "api-flow_binding_mismatch",
        "このサインインは別のブラウザーやタブで始まったか、このブラウザーが Cookie を保持していません。サイトに戻り、このブラウザーでもう一度始めてください。",
    ),
    (
        "api-challenge_expired",
        "サインインの要求が時間切れになりました。もう一度お試しください。",
    ),
    (
        "api-unknown_credential",
        "このパスキーはここでは登録が解除されています。新しいパスキーを作成するか、別のパスキーを選んでください。",
    ),
    (
        "api-verification_failed",
        "パスキーを確認できませんでした。もう一度試すか、別のパスキーを選んでください。",
    ),
    (
        "api-user_verification_required",
        "端末で本人確認（PIN、指紋、顔認証）が行われませんでした。もう一度試して、確認を完了してください。",
    ),
    (
        "api-invalid_request",
        "サーバーがこの要求を受け付けませんでした。もう一度お試しください。",
    ),
    (
        "api-payload_too_large",
        "ブラウザーから送られたデータが大きすぎます。もう一度試すか、別のパスキーを選んでください。",
    ),
    (
        "api-rate_limited",
        "試行回数が多すぎます。少し待ってから、もう一度お試しください。",
    ),
    (
        "api-network_error",
        "サーバーに接続できませんでした。接続を確認して、もう一度お試しください。",
    ),
    (
        "api-bad_response",
        "サーバーの応答をこのページが理解できませんでした。もう一度お試しください。",
    ),
    (
        "api-server_error",
        "サーバーで問題が発生しました。もう一度お試しください。",
    ),
    (
        "api-recovery_link_expired",
        "この復旧リンクは有効期限が切れているか、既に使われています。新しいリンクを依頼してください。",
    ),
    (
        "api-recovery_unavailable",
        "このサイトでは、メールによるアカウントの復旧を利用できません。",
    ),
    (
        "reason-authenticator_denied",
        "{site} では{model}を利用できません。{site} が認めている端末やパスワードマネージャーのパスキーを使ってください。",
    ),
    (
        "reason-authenticator_not_allowed",
        "{site} では{model}を利用できません。{site} が認めている端末やパスワードマネージャーのパスキーを使ってください。",
    ),
    (
        "reason-synced_passkey",
        "{site} では、セキュリティキーのように 1 台の端末だけに保存されるパスキーのみ利用できます。このパスキーは端末間で同期されています。セキュリティキーか、端末に固定されたパスキーを使ってください。",
    ),
    (
        "reason-attestation_not_verified",
        "{site} では、パスキーを保存している端末の証明が必要ですが、この端末からは証明が得られませんでした。{site} が承認したセキュリティキーを使ってください。",
    ),
    (
        "reason-counter_regression",
        "このパスキーの使用回数が以前より小さく報告されました。複製された可能性があるため、拒否しました。繰り返し起こる場合はサイトにお問い合わせください。",
    ),
    (
        "reason-another_site",
        "このパスキーは、このサインインサービスを利用している別のサイトのものです。別のパスキーを選ぶか、{site} 用のパスキーを新しく作成してください。",
    ),
    (
        "not-allowed",
        "パスキーの画面が閉じられたか、時間切れになりました。準備ができたら、もう一度お試しください。",
    ),
    (
        "exists",
        "このアカウントのパスキーは、この端末に既にあります。そのパスキーでサインインしてください。",
    ),
    (
        "aborted",
        "パスキーの要求が取り消されました。もう一度お試しください。",
    ),
    (
        "no-https",
        "このページは安全な接続（HTTPS）で読み込まれていないため、このブラウザーではパスキーを使えません。",
    ),
    (
        "unsupported",
        "このブラウザーはパスキーに対応していません。",
    ),
    ("model-named", "{name} のパスキー"),
    ("model-unknown", "この種類のパスキー"),
    (
        "related-origins",
        "{rp} は、このサインインページでのパスキーの利用をまだ許可していません。サイトにお問い合わせください。",
    ),
    (
        "wait-second",
        "試行回数が多すぎます。1 秒待ってから、もう一度お試しください。",
    ),
    (
        "wait-seconds",
        "試行回数が多すぎます。{n} 秒待ってから、もう一度お試しください。",
    ),
    (
        "other",
        "問題が発生しました（{code}）。もう一度お試しください。",
    ),
    (
        "ror-refused",
        "このブラウザーは、このサインインページで {rp} のパスキーを使うことを拒否しました。WebAuthn Related Origin Requests への対応と、https://{rp}/.well-known/webauthn にこのページが記載されていることが必要です。最新の Chrome、Edge、Safari を使うか、{rp} で直接サインインしてください。",
    ),
    (
        "security",
        "このブラウザーは、セキュリティ上の理由で、このページでの {rp} のパスキーの要求を拒否しました。",
    ),
    (
        "webauthn-other",
        "パスキーで問題が発生しました（{name}）。もう一度お試しください。",
    ),
];

impl Locale {
    /// The words of the sign-in page's script in this language.
    pub fn script_words(self) -> ScriptWords {
        match self {
            Self::En => EN,
            Self::Ja => JA,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_have_the_same_words_with_the_same_blanks() {
        let keys = |w: ScriptWords| w.iter().map(|(k, _)| *k).collect::<Vec<_>>();
        assert_eq!(keys(EN), keys(JA));
        for ((k, en), (_, ja)) in EN.iter().zip(JA) {
            for blank in ["{site}", "{model}", "{rp}", "{n}", "{code}", "{name}"] {
                assert_eq!(en.contains(blank), ja.contains(blank), "{k}: {blank}");
            }
        }
    }
}
