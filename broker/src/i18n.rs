//! The hosted page's languages: English and Japanese, chosen from the `ui_locales`
//! parameter (OpenID Connect Core §3.1.2.1, space-separated BCP 47 tags in order of
//! preference), then the `Accept-Language` header (RFC 9110 §12.5.4, q-values), then
//! English. The page's script carries its own messages for both languages and reads
//! the `lang` attribute.

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

    /// The page title and heading.
    pub fn sign_in_to(self, site: &str) -> String {
        match self {
            Self::En => format!("Sign in to {site}"),
            Self::Ja => format!("{site} にサインイン"),
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
