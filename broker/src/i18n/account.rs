//! The account page's words (PROTOCOL §9), in English and Japanese. The page renders
//! them, and hands its script the words it needs later in a `<template>`: the script
//! carries none of its own.

use super::Locale;

/// The fixed words of the account page.
#[derive(Debug)]
pub struct AccountText {
    /// The sign-in button.
    pub sign_in: &'static str,
    /// The heading of the passkey list.
    pub passkeys_title: &'static str,
    /// "Signed in as".
    pub signed_in_as: &'static str,
    /// The add button.
    pub add_button: &'static str,
    /// Why to add a passkey.
    pub add_lead: &'static str,
    /// The new passkey's name field.
    pub name_label: &'static str,
    /// The name field's hint.
    pub name_hint: &'static str,
    /// "(optional)".
    pub optional: &'static str,
    /// The rename button.
    pub rename: &'static str,
    /// The save button of a rename.
    pub save: &'static str,
    /// The cancel button.
    pub cancel: &'static str,
    /// The remove button.
    pub remove: &'static str,
    /// The confirm button of a removal.
    pub remove_confirm_button: &'static str,
    /// What removing a passkey means.
    pub remove_explained: &'static str,
    /// The sign-out button.
    pub sign_out: &'static str,
    /// Shown after signing out.
    pub signed_out: &'static str,
    /// Without script.
    pub noscript: &'static str,
    /// Words the script shows later, by key.
    pub words: &'static [(&'static str, &'static str)],
}

static EN: AccountText = AccountText {
    sign_in: "Sign in with a passkey",
    passkeys_title: "Your passkeys",
    signed_in_as: "Signed in as",
    add_button: "Add a passkey",
    add_lead: "Add a passkey on another device, such as your phone or a security key, so that you can still sign in if you lose one.",
    name_label: "Name",
    name_hint: "For example: Work laptop, Blue security key.",
    optional: "(optional)",
    rename: "Rename",
    save: "Save",
    cancel: "Cancel",
    remove: "Remove",
    remove_confirm_button: "Remove this passkey",
    remove_explained: "A removed passkey no longer signs you in to this site, on any device. Your other passkeys keep working.",
    sign_out: "Sign out",
    signed_out: "You are signed out of this page.",
    noscript: "This page needs JavaScript to use passkeys. Turn it on and reload the page.",
    words: &[
        ("this-device", "Used on this device"),
        ("synced", "Synced across your devices"),
        ("device-bound", "On one device only"),
        ("added", "Added"),
        ("last-used", "Last used"),
        ("never-used", "Not used yet"),
        ("unnamed", "Passkey"),
        (
            "only-one",
            "This is your only passkey. Add another one before you remove it.",
        ),
        (
            "confirm-remove",
            "Remove “{name}”? It will no longer sign you in to this site.",
        ),
        (
            "status-signing-in",
            "Follow your browser’s prompt to use your passkey…",
        ),
        (
            "status-creating",
            "Follow your browser’s prompt to create the new passkey…",
        ),
        (
            "status-added",
            "The new passkey was added. You can sign in with it now.",
        ),
        ("status-renamed", "The passkey was renamed."),
        ("status-removed", "The passkey was removed."),
        (
            "reauth",
            "To add a passkey, confirm it is you with one of your passkeys first.",
        ),
        ("confirm-button", "Confirm with a passkey"),
        (
            "err-account_session_required",
            "Your session on this page has ended. Sign in again.",
        ),
        (
            "err-reauthentication_required",
            "To add a passkey, confirm it is you with one of your passkeys first.",
        ),
        (
            "err-last_passkey",
            "This is your only passkey: add another one before you remove it, or you could not sign in any more.",
        ),
        (
            "err-not_found",
            "Your account has no such passkey. Reload the page.",
        ),
        (
            "err-invalid_field",
            "The name must be 1 to 64 characters, without control characters.",
        ),
        (
            "err-challenge_expired",
            "That attempt expired or was already used. Try again.",
        ),
        (
            "err-unknown_credential",
            "This passkey is not registered for this site. Pick another one.",
        ),
        (
            "err-verification_failed",
            "The passkey could not be verified. Try again.",
        ),
        (
            "err-user_verification_required",
            "Your device did not verify you (PIN, fingerprint or face). Try again and complete the check.",
        ),
        (
            "err-rate_limited",
            "Too many attempts. Wait a moment, then try again.",
        ),
        (
            "err-flow_expired",
            "This page has expired. Reload it to continue.",
        ),
        (
            "err-flow_not_found",
            "This page has expired. Reload it to continue.",
        ),
        (
            "err-flow_binding_mismatch",
            "This page was opened in another browser or its cookie is missing. Reload it.",
        ),
        (
            "err-authenticator_not_allowed",
            "This site does not accept passkeys from this kind of authenticator. Use another one.",
        ),
        (
            "err-synced_passkey_not_allowed",
            "This site accepts only passkeys that stay on one device, such as a security key.",
        ),
        (
            "err-attestation_not_verified",
            "This site accepts only authenticators that prove their model. Use another one.",
        ),
        (
            "err-cancelled",
            "The passkey prompt was closed. Nothing was changed.",
        ),
        (
            "err-exists",
            "This device already has a passkey for your account. Use another device or security key.",
        ),
        (
            "err-unsupported",
            "This browser cannot use passkeys. Use an up-to-date browser.",
        ),
        (
            "err-network_error",
            "The connection failed. Check it and try again.",
        ),
        ("err-other", "Something went wrong. Try again."),
    ],
};

static JA: AccountText = AccountText {
    sign_in: "パスキーでサインイン",
    passkeys_title: "あなたのパスキー",
    signed_in_as: "サインイン中のアカウント",
    add_button: "パスキーを追加",
    add_lead: "スマートフォンやセキュリティキーなど別の端末にもパスキーを追加しておくと、どれかをなくしてもサインインできます。",
    name_label: "名前",
    name_hint: "例: 仕事用ノートPC、青いセキュリティキー",
    optional: "（任意）",
    rename: "名前を変更",
    save: "保存",
    cancel: "キャンセル",
    remove: "削除",
    remove_confirm_button: "このパスキーを削除",
    remove_explained: "削除したパスキーでは、どの端末からもこのサイトにサインインできなくなります。ほかのパスキーはそのまま使えます。",
    sign_out: "サインアウト",
    signed_out: "このページからサインアウトしました。",
    noscript: "パスキーを使うには JavaScript が必要です。有効にしてからページを再読み込みしてください。",
    words: &[
        ("this-device", "この端末で使用中"),
        ("synced", "端末間で同期"),
        ("device-bound", "1 台の端末のみ"),
        ("added", "追加日"),
        ("last-used", "最終使用"),
        ("never-used", "未使用"),
        ("unnamed", "パスキー"),
        (
            "only-one",
            "これが唯一のパスキーです。削除する前に別のパスキーを追加してください。",
        ),
        (
            "confirm-remove",
            "「{name}」を削除しますか？このサイトへのサインインに使えなくなります。",
        ),
        (
            "status-signing-in",
            "ブラウザーの案内に従ってパスキーを使ってください…",
        ),
        (
            "status-creating",
            "ブラウザーの案内に従って新しいパスキーを作成してください…",
        ),
        (
            "status-added",
            "新しいパスキーを追加しました。すぐにサインインに使えます。",
        ),
        ("status-renamed", "パスキーの名前を変更しました。"),
        ("status-removed", "パスキーを削除しました。"),
        (
            "reauth",
            "パスキーを追加するには、まずお持ちのパスキーで本人確認をしてください。",
        ),
        ("confirm-button", "パスキーで本人確認"),
        (
            "err-account_session_required",
            "このページのセッションが終了しました。もう一度サインインしてください。",
        ),
        (
            "err-reauthentication_required",
            "パスキーを追加するには、まずお持ちのパスキーで本人確認をしてください。",
        ),
        (
            "err-last_passkey",
            "これが唯一のパスキーです。削除するとサインインできなくなるため、先に別のパスキーを追加してください。",
        ),
        (
            "err-not_found",
            "このアカウントにそのパスキーはありません。ページを再読み込みしてください。",
        ),
        (
            "err-invalid_field",
            "名前は制御文字を含まない 1〜64 文字にしてください。",
        ),
        (
            "err-challenge_expired",
            "この操作は期限切れか、既に使われています。もう一度お試しください。",
        ),
        (
            "err-unknown_credential",
            "このパスキーはこのサイトに登録されていません。別のパスキーを選んでください。",
        ),
        (
            "err-verification_failed",
            "パスキーを確認できませんでした。もう一度お試しください。",
        ),
        (
            "err-user_verification_required",
            "端末で本人確認（PIN、指紋、顔）が行われませんでした。もう一度お試しください。",
        ),
        (
            "err-rate_limited",
            "試行回数が多すぎます。しばらく待ってからお試しください。",
        ),
        (
            "err-flow_expired",
            "このページは期限切れです。再読み込みしてください。",
        ),
        (
            "err-flow_not_found",
            "このページは期限切れです。再読み込みしてください。",
        ),
        (
            "err-flow_binding_mismatch",
            "このページは別のブラウザーで開かれたか、Cookie がありません。再読み込みしてください。",
        ),
        (
            "err-authenticator_not_allowed",
            "このサイトはこの種類の認証器のパスキーを受け付けていません。別のものを使ってください。",
        ),
        (
            "err-synced_passkey_not_allowed",
            "このサイトでは、セキュリティキーのように 1 台の端末にとどまるパスキーだけが使えます。",
        ),
        (
            "err-attestation_not_verified",
            "このサイトでは、機種を証明できる認証器だけが使えます。別のものを使ってください。",
        ),
        (
            "err-cancelled",
            "パスキーの画面が閉じられました。何も変更していません。",
        ),
        (
            "err-exists",
            "この端末には既にこのアカウントのパスキーがあります。別の端末かセキュリティキーを使ってください。",
        ),
        (
            "err-unsupported",
            "このブラウザーはパスキーを使えません。最新のブラウザーを使ってください。",
        ),
        (
            "err-network_error",
            "接続できませんでした。接続を確認してもう一度お試しください。",
        ),
        ("err-other", "問題が発生しました。もう一度お試しください。"),
    ],
};

impl Locale {
    /// The account page's words in this language.
    pub fn account_text(self) -> &'static AccountText {
        match self {
            Self::En => &EN,
            Self::Ja => &JA,
        }
    }

    /// The account page's title ("Your account at Northwind Books").
    pub fn account_title(self, site: &str) -> String {
        match self {
            Self::En => format!("Your account at {site}"),
            Self::Ja => format!("{site} のアカウント"),
        }
    }

    /// The signed-out lead of the account page.
    pub fn account_lead(self, site: &str) -> String {
        match self {
            Self::En => format!(
                "Sign in with a passkey of your {site} account to see its passkeys, add a backup passkey, or remove one you no longer have."
            ),
            Self::Ja => format!(
                "{site} のアカウントのパスキーでサインインすると、パスキーの確認、予備のパスキーの追加、使わなくなったパスキーの削除ができます。"
            ),
        }
    }

    /// The developer's fix for a `return_to` that the tenant has not registered.
    pub fn return_to_fix(self, client_id: &str) -> String {
        match self {
            Self::En => format!(
                "The return_to of this account page address is not one of the redirect URIs registered for client_id “{client_id}”. It is compared character for character; send a registered redirect URI, or leave return_to out."
            ),
            Self::Ja => format!(
                "このアカウントページのアドレスの return_to は、client_id「{client_id}」に登録されたリダイレクト URI のどれとも一致しません。1 文字ずつ比較します。登録済みのリダイレクト URI を送るか、return_to を省いてください。"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_have_the_same_words() {
        let keys = |t: &AccountText| t.words.iter().map(|(k, _)| *k).collect::<Vec<_>>();
        assert_eq!(keys(&EN), keys(&JA));
        assert!(EN.words.iter().all(|(_, w)| !w.is_empty()));
    }
}
