//! The hosted page's languages: English and Japanese, chosen from the `ui_locales`
//! parameter (OpenID Connect Core §3.1.2.1, space-separated BCP 47 tags in order of
//! preference), then the `Accept-Language` header (RFC 9110 §12.5.4, q-values), then
//! English. Every word of the hosted pages lives here: the pages render them, and hand
//! their scripts the words they show as they run in a `<template id="latchkey-words">`
//! (`script.rs` for the sign-in page, `account.rs` for the account page), so that the
//! scripts carry none of their own.

mod account;
mod script;

pub use account::AccountText;
pub use script::ScriptWords;

/// A language of the hosted page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locale {
    /// English.
    En,
    /// Japanese.
    Ja,
}

impl Locale {
    /// The BCP 47 tag for the `lang` attribute.
    pub fn tag(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Ja => "ja",
        }
    }

    fn from_tag(tag: &str) -> Option<Self> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Self::En),
            "ja" => Some(Self::Ja),
            _ => None,
        }
    }

    /// Chooses the language: the first supported tag of `ui_locales`, else the supported
    /// language of `Accept-Language` with the highest weight (the first among equals),
    /// else English.
    pub fn negotiate(ui_locales: Option<&str>, accept_language: Option<&str>) -> Self {
        if let Some(l) = ui_locales
            .into_iter()
            .flat_map(str::split_whitespace)
            .find_map(Self::from_tag)
        {
            return l;
        }
        let mut best: Option<(u16, Self)> = None;
        for item in accept_language.unwrap_or_default().split(',') {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or_default().trim();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(1000, |q| {
                    q.trim()
                        .parse::<f32>()
                        .map_or(0, |f| (f.clamp(0.0, 1.0) * 1000.0) as u16)
                });
            if q == 0 {
                continue;
            }
            if let Some(l) = Self::from_tag(tag)
                && best.is_none_or(|(bq, _)| q > bq)
            {
                best = Some((q, l));
            }
        }
        best.map_or(Self::En, |(_, l)| l)
    }

    /// The hosted page's words in this language.
    pub fn text(self) -> &'static PageText {
        match self {
            Self::En => &EN,
            Self::Ja => &JA,
        }
    }

    /// The words of the pages opened from email links.
    pub fn link_text(self) -> &'static LinkText {
        match self {
            Self::En => &LINK_EN,
            Self::Ja => &LINK_JA,
        }
    }

    /// The page title and heading.
    pub fn sign_in_to(self, site: &str) -> String {
        match self {
            Self::En => format!("Sign in to {site}"),
            Self::Ja => format!("{site} にサインイン"),
        }
    }

    /// The words of the `/authorize` pages that are not the hosted page (errors, the
    /// finished sign-in).
    pub fn error_text(self) -> &'static ErrorText {
        match self {
            Self::En => &ERRORS_EN,
            Self::Ja => &ERRORS_JA,
        }
    }

    /// The link back to the site ("Back to Northwind Books").
    pub fn back_to_site(self, site: &str) -> String {
        match self {
            Self::En => format!("Back to {site}"),
            Self::Ja => format!("{site} に戻る"),
        }
    }

    /// The hosted page's message when the browser has no passkey of the site.
    pub fn no_passkey(self, site: &str) -> String {
        match self {
            Self::En => format!(
                "There is no passkey for {site} on this device. Create one now, or use a passkey from another device, such as your phone."
            ),
            Self::Ja => format!(
                "この端末には {site} のパスキーがありません。ここで作成するか、スマートフォンなどほかの端末のパスキーを使ってください。"
            ),
        }
    }

    /// The lead of the page that a finished sign-in's `/authorize` address answers.
    pub fn finished_lead(self, site: &str) -> String {
        match self {
            Self::En => format!(
                "You already signed in to {site} from this page. There is nothing more to do here."
            ),
            Self::Ja => format!(
                "このページから {site} へのサインインは既に完了しています。ここで行うことはもうありません。"
            ),
        }
    }

    /// The developer's fix for a `redirect_uri` that the tenant has not registered.
    pub fn unregistered_fix(self, client_id: &str) -> String {
        match self {
            Self::En => format!(
                "The redirect_uri of this request is not one of the redirect URIs registered for client_id “{client_id}”. They are compared character for character (scheme, host, port, path and query; no wildcards). Send a registered one, or register this one in the admin dashboard or with PATCH /api/v1/admin/tenants/{client_id}."
            ),
            Self::Ja => format!(
                "このリクエストの redirect_uri は、client_id「{client_id}」に登録されたリダイレクト URI のどれとも一致しません。スキーム、ホスト、ポート、パス、クエリーまで 1 文字ずつ比較します（ワイルドカードは使えません）。登録済みのものを送るか、管理ダッシュボードまたは PATCH /api/v1/admin/tenants/{client_id} でこの URI を登録してください。"
            ),
        }
    }

    /// The wait of a rate-limited `/authorize`.
    pub fn wait_then_retry(self, seconds: u64) -> String {
        match (self, seconds) {
            (Self::En, 1) => "Wait 1 second, then go back to the site and try again.".into(),
            (Self::En, n) => format!("Wait {n} seconds, then go back to the site and try again."),
            (Self::Ja, n) => format!("{n} 秒待ってから、サイトに戻ってもう一度お試しください。"),
        }
    }

    /// The notice shown when the browser lacks Related Origin Requests.
    pub fn ror_notice(self, rp_id: &str) -> String {
        match self {
            Self::En => format!(
                "Your passkeys for {rp_id} are kept by {rp_id}, and this browser cannot use them on this sign-in page (it lacks WebAuthn Related Origin Requests). Use an up-to-date Chrome, Edge or Safari, or sign in on {rp_id} directly."
            ),
            Self::Ja => format!(
                "{rp_id} のパスキーは {rp_id} が管理しており、このブラウザーではこのサインインページから使えません（WebAuthn Related Origin Requests に対応していません）。最新の Chrome、Edge、Safari を使うか、{rp_id} で直接サインインしてください。"
            ),
        }
    }
}

/// The fixed words of the hosted page.
#[derive(Debug)]
pub struct PageText {
    /// Lead of the sign-in view.
    pub login_lead: &'static str,
    /// Label of the username field (passkey autofill).
    pub username_label: &'static str,
    /// Hint under it.
    pub username_hint: &'static str,
    /// The sign-in button.
    pub signin_button: &'static str,
    /// "New here?"
    pub new_here: &'static str,
    /// Link to the create view.
    pub create_link: &'static str,
    /// Heading of the create view.
    pub create_title: &'static str,
    /// Lead of the create view.
    pub create_lead: &'static str,
    /// Email label.
    pub email_label: &'static str,
    /// "(optional)".
    pub optional: &'static str,
    /// Name label.
    pub name_label: &'static str,
    /// Hint under the name.
    pub name_hint: &'static str,
    /// The create button.
    pub create_button: &'static str,
    /// "Already have a passkey?"
    pub have_passkey: &'static str,
    /// Link to the sign-in view.
    pub signin_link: &'static str,
    /// Retry button.
    pub retry: &'static str,
    /// "Sign in instead" button.
    pub signin_instead: &'static str,
    /// Without JavaScript.
    pub noscript: &'static str,
    /// Footer.
    pub footer: &'static str,
    /// Accessible names of the two views.
    pub signin_region: &'static str,
    /// Link to the recovery view ("Lost your passkey?").
    pub lost_passkey: &'static str,
    /// Heading of the recovery request view.
    pub recover_title: &'static str,
    /// Lead of the recovery request view.
    pub recover_lead: &'static str,
    /// Its button.
    pub recover_button: &'static str,
    /// Back to the sign-in view.
    pub back_to_signin: &'static str,
    /// Heading of the page opened from a recovery link.
    pub recovery_title: &'static str,
    /// Its lead.
    pub recovery_lead: &'static str,
    /// Its button.
    pub recovery_button: &'static str,
    /// The flow has issued its code (the page came back, e.g. with the Back button).
    pub finished: &'static str,
    /// The flow has expired or is unknown.
    pub gone: &'static str,
    /// The button that asks for a passkey of another device (a phone, a security key).
    pub other_device: &'static str,
    /// Asking another device was refused at once too.
    pub no_passkey_elsewhere: &'static str,
}

/// The words of the `/authorize` pages other than the hosted page: for the person who
/// is signing in, and for the site's developer, each told what they can do.
#[derive(Debug)]
pub struct ErrorText {
    /// Heading of the developer's box.
    pub developer_title: &'static str,
    /// What the person can do about a site's broken sign-in link.
    pub person_advice: &'static str,
    /// That nothing happened.
    pub not_signed_in: &'static str,
    /// Heading: a parameter is missing.
    pub incomplete_title: &'static str,
    /// No `client_id`.
    pub no_client_id: &'static str,
    /// The developer's fix for it.
    pub no_client_id_fix: &'static str,
    /// Heading: unknown `client_id`.
    pub unknown_site_title: &'static str,
    /// Unknown `client_id`.
    pub unknown_site: &'static str,
    /// The developer's fix for it.
    pub unknown_site_fix: &'static str,
    /// No `redirect_uri`.
    pub no_redirect_uri: &'static str,
    /// The developer's fix for it.
    pub no_redirect_uri_fix: &'static str,
    /// Heading: the `redirect_uri` is not registered (or not valid).
    pub unregistered_title: &'static str,
    /// It is not registered.
    pub unregistered: &'static str,
    /// It is registered but not a valid redirect URI.
    pub invalid_redirect: &'static str,
    /// The developer's fix for it.
    pub invalid_redirect_fix: &'static str,
    /// Heading: this authorization request already issued its code.
    pub finished_title: &'static str,
    /// What to do after a finished sign-in.
    pub finished_advice: &'static str,
    /// Heading: rate limited.
    pub too_many_title: &'static str,
}

/// The words of the pages opened from email links (PROTOCOL E4).
#[derive(Debug)]
pub struct LinkText {
    /// Heading of the confirmation page.
    pub verify_title: &'static str,
    /// What confirming does.
    pub verify_lead: &'static str,
    /// The confirmation button.
    pub verify_button: &'static str,
    /// Heading once confirmed.
    pub verified_title: &'static str,
    /// Text once confirmed.
    pub verified_lead: &'static str,
    /// Heading of an expired or used link.
    pub expired_title: &'static str,
    /// Text of an expired or used confirmation link.
    pub expired_lead: &'static str,
    /// Text of an expired or used recovery link.
    pub recover_expired_lead: &'static str,
    /// Heading when a recovery link is opened in another browser.
    pub other_browser_title: &'static str,
    /// Text when a recovery link is opened in another browser.
    pub other_browser_lead: &'static str,
    /// Footer.
    pub footer: &'static str,
}

static EN: PageText = PageText {
    login_lead: "Use a passkey saved on this device, your phone or your password manager.",
    username_label: "Email",
    username_hint: "Your browser may offer your passkey here.",
    signin_button: "Sign in with a passkey",
    new_here: "New here?",
    create_link: "Create a passkey",
    create_title: "Create a passkey",
    create_lead: "A passkey replaces a password. Your device keeps it and unlocks it with your PIN, fingerprint or face.",
    email_label: "Email",
    optional: "(optional)",
    name_label: "Your name",
    name_hint: "Shown when your device asks you to pick a passkey.",
    create_button: "Create a passkey",
    have_passkey: "Already have a passkey?",
    signin_link: "Sign in",
    retry: "Try again",
    signin_instead: "Sign in instead",
    noscript: "Passkeys need JavaScript. Turn on JavaScript for this page, then reload it.",
    footer: "Secured by Latchkey",
    signin_region: "Sign in",
    lost_passkey: "Lost your passkey?",
    recover_title: "Recover your account",
    recover_lead: "Enter the email address you confirmed for your account. If it belongs to an account here, we will email it a link that lets you create a new passkey. Open the link in this browser within 15 minutes.",
    recover_button: "Email me a link",
    back_to_signin: "Back to sign-in",
    recovery_title: "Create a new passkey",
    recovery_lead: "Your email address is confirmed. Create a new passkey for your account; your other passkeys stay as they are.",
    recovery_button: "Create a new passkey",
    finished: "This sign-in is already finished. To sign in again, or as someone else, start from the site.",
    gone: "This sign-in page has expired. Go back to the site and start again.",
    other_device: "Use another device",
    no_passkey_elsewhere: "This browser could not offer a passkey from another device here. Create a passkey on this device, or sign in on the device that has your passkey.",
};

static JA: PageText = PageText {
    login_lead: "この端末、スマートフォン、またはパスワードマネージャーに保存したパスキーを使います。",
    username_label: "メールアドレス",
    username_hint: "ブラウザーがここにパスキーを候補として表示することがあります。",
    signin_button: "パスキーでサインイン",
    new_here: "初めてですか？",
    create_link: "パスキーを作成",
    create_title: "パスキーを作成",
    create_lead: "パスキーはパスワードの代わりになります。端末に保存され、PIN、指紋、顔認証で使えます。",
    email_label: "メールアドレス",
    optional: "（任意）",
    name_label: "お名前",
    name_hint: "パスキーを選ぶときに端末に表示されます。",
    create_button: "パスキーを作成",
    have_passkey: "パスキーをお持ちですか？",
    signin_link: "サインイン",
    retry: "もう一度試す",
    signin_instead: "サインインする",
    noscript: "パスキーには JavaScript が必要です。このページで JavaScript を有効にして、再読み込みしてください。",
    footer: "Latchkey による保護",
    signin_region: "サインイン",
    lost_passkey: "パスキーをなくしましたか？",
    recover_title: "アカウントの復旧",
    recover_lead: "アカウントで確認済みのメールアドレスを入力してください。ここにあるアカウントのアドレスであれば、新しいパスキーを作成するためのリンクをお送りします。15 分以内に、このブラウザーでリンクを開いてください。",
    recover_button: "リンクをメールで送る",
    back_to_signin: "サインインに戻る",
    recovery_title: "新しいパスキーを作成",
    recovery_lead: "メールアドレスが確認できました。アカウントの新しいパスキーを作成してください。ほかのパスキーはそのまま残ります。",
    recovery_button: "新しいパスキーを作成",
    finished: "このサインインは既に完了しています。もう一度、または別のアカウントでサインインするには、サイトから始めてください。",
    gone: "このサインインページは有効期限が切れています。サイトに戻って、もう一度始めてください。",
    other_device: "ほかの端末を使う",
    no_passkey_elsewhere: "このブラウザーでは、ここでほかの端末のパスキーを使えませんでした。この端末でパスキーを作成するか、パスキーがある端末でサインインしてください。",
};

static ERRORS_EN: ErrorText = ErrorText {
    developer_title: "For the site's developer",
    person_advice: "Go back to the site and start again from its sign-in button. If you end up here again, the problem is in the site's setup, not in your device or your passkey: let the site know.",
    not_signed_in: "You have not been signed in and nothing was sent to the site.",
    incomplete_title: "This sign-in link is incomplete",
    no_client_id: "The link that brought you here does not say which site you are signing in to, so the sign-in cannot start.",
    no_client_id_fix: "The request to /authorize has no client_id parameter. Add the client_id of your tenant on this broker.",
    unknown_site_title: "Unknown site",
    unknown_site: "The site that sent you here is not registered with this sign-in service, so the sign-in cannot start.",
    unknown_site_fix: "No tenant on this broker has the client_id of this request. Check the value for typos, and that your site sends people to the right broker (its issuer URL). The broker's operator creates tenants in the admin dashboard, with the admin API or with the command latchkey tenant add.",
    no_redirect_uri: "The link that brought you here does not say where to return you after signing in, so the sign-in cannot start.",
    no_redirect_uri_fix: "The request to /authorize has no redirect_uri parameter. Add one of your tenant's registered redirect URIs, exactly as registered.",
    unregistered_title: "Unregistered return address",
    unregistered: "The address this sign-in would return you to is not registered for this site, so the sign-in was stopped to protect you.",
    invalid_redirect: "The address this sign-in would return you to is not valid, so the sign-in was stopped.",
    invalid_redirect_fix: "This redirect_uri is registered for the tenant but is not a valid redirect URI (https://, or http:// only on localhost and 127.0.0.1; no fragment, no user name). Register a valid one and send that.",
    finished_title: "This sign-in is already finished",
    finished_advice: "To sign in again, or as someone else, start from the site.",
    too_many_title: "Too many sign-in attempts",
};

static ERRORS_JA: ErrorText = ErrorText {
    developer_title: "サイトの開発者の方へ",
    person_advice: "サイトに戻り、サインインのボタンからもう一度始めてください。再びこのページが表示される場合は、お使いの端末やパスキーではなく、サイトの設定に問題があります。サイトにお知らせください。",
    not_signed_in: "サインインは行われておらず、サイトには何も送られていません。",
    incomplete_title: "サインインのリンクが不完全です",
    no_client_id: "このページを開いたリンクには、どのサイトへのサインインかが含まれていないため、サインインを始められません。",
    no_client_id_fix: "/authorize へのリクエストに client_id パラメーターがありません。このブローカーに登録したテナントの client_id を付けてください。",
    unknown_site_title: "登録されていないサイトです",
    unknown_site: "このページに移動させたサイトは、このサインインサービスに登録されていないため、サインインを始められません。",
    unknown_site_fix: "このリクエストの client_id を持つテナントは、このブローカーにはありません。値に誤りがないか、サイトが正しいブローカー（issuer の URL）に移動させているかを確認してください。テナントは、ブローカーの運用者が管理ダッシュボード、管理 API、または latchkey tenant add コマンドで作成します。",
    no_redirect_uri: "このページを開いたリンクには、サインイン後の戻り先が含まれていないため、サインインを始められません。",
    no_redirect_uri_fix: "/authorize へのリクエストに redirect_uri パラメーターがありません。テナントに登録したリダイレクト URI のいずれかを、登録したとおりに付けてください。",
    unregistered_title: "登録されていない戻り先です",
    unregistered: "このサインインの戻り先のアドレスがこのサイト用に登録されていないため、安全のためにサインインを中止しました。",
    invalid_redirect: "このサインインの戻り先のアドレスが正しくないため、サインインを中止しました。",
    invalid_redirect_fix: "この redirect_uri はテナントに登録されていますが、リダイレクト URI として有効ではありません（https://、または localhost と 127.0.0.1 でのみ http://。フラグメントやユーザー名は使えません）。有効な URI を登録し、それを送ってください。",
    finished_title: "このサインインは既に完了しています",
    finished_advice: "もう一度、または別のアカウントでサインインするには、サイトから始めてください。",
    too_many_title: "サインインの試行が多すぎます",
};

static LINK_EN: LinkText = LinkText {
    verify_title: "Confirm your email address",
    verify_lead: "Confirm that this address is yours. A confirmed address can recover your account if you lose your passkeys.",
    verify_button: "Confirm my email address",
    verified_title: "Email address confirmed",
    verified_lead: "Thank you, your email address is confirmed. You can close this page.",
    expired_title: "This link has expired",
    expired_lead: "This link has expired or was already used. Each link works once and for a limited time.",
    recover_expired_lead: "This recovery link has expired or was already used. Go back to the site and ask for a new one.",
    other_browser_title: "Open this link where you started",
    other_browser_lead: "This recovery link works only in the browser where you asked for it, while its sign-in page is still open. Open the link there, or go back to the site and start again in this browser.",
    footer: "Secured by Latchkey",
};

static LINK_JA: LinkText = LinkText {
    verify_title: "メールアドレスの確認",
    verify_lead: "このアドレスがご本人のものであることを確認してください。確認済みのアドレスは、パスキーをなくしたときにアカウントの復旧に使えます。",
    verify_button: "メールアドレスを確認する",
    verified_title: "メールアドレスを確認しました",
    verified_lead: "ありがとうございます。メールアドレスを確認しました。このページは閉じてかまいません。",
    expired_title: "このリンクは有効期限が切れています",
    expired_lead: "このリンクは有効期限が切れているか、既に使われています。リンクは一度だけ、限られた時間だけ使えます。",
    recover_expired_lead: "この復旧リンクは有効期限が切れているか、既に使われています。サイトに戻って、新しいリンクを依頼してください。",
    other_browser_title: "サインインを始めたブラウザーで開いてください",
    other_browser_lead: "この復旧リンクは、依頼したブラウザーでサインインページが開いている間だけ使えます。そのブラウザーでリンクを開くか、サイトに戻ってこのブラウザーでもう一度始めてください。",
    footer: "Latchkey による保護",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ui_locales_comes_first() {
        assert_eq!(Locale::negotiate(Some("ja"), Some("en")), Locale::Ja);
        assert_eq!(Locale::negotiate(Some("fr ja-JP"), Some("en")), Locale::Ja);
        assert_eq!(Locale::negotiate(Some("en"), Some("ja")), Locale::En);
    }

    #[test]
    fn accept_language_follows_its_weights() {
        assert_eq!(
            Locale::negotiate(None, Some("ja-JP,ja;q=0.9,en;q=0.8")),
            Locale::Ja
        );
        assert_eq!(
            Locale::negotiate(None, Some("en;q=0.5, ja;q=0.8")),
            Locale::Ja
        );
        assert_eq!(
            Locale::negotiate(None, Some("en-US,en;q=0.9,ja;q=0.8")),
            Locale::En
        );
        assert_eq!(Locale::negotiate(None, Some("ja;q=0, fr")), Locale::En);
    }

    #[test]
    fn anything_unknown_falls_back_to_english() {
        assert_eq!(
            Locale::negotiate(Some("de"), Some("fr-CH, fr;q=0.9")),
            Locale::En
        );
        assert_eq!(Locale::negotiate(None, None), Locale::En);
        assert_eq!(
            Locale::negotiate(Some(""), Some("garbage;;q=x")),
            Locale::En
        );
    }
}
