//! One askama template struct per page (templates live in `/templates`).

use askama::Template;

/// The hosted sign-in page.
#[derive(Template)]
#[template(path = "authorize.html")]
pub struct AuthorizePage {
    /// Cache-busting asset version.
    pub asset_version: String,
    /// SRI of the style sheet.
    pub style_integrity: String,
    /// SRI of the script.
    pub script_integrity: String,
    /// SRI of the shared WebAuthn script.
    pub webauthn_integrity: String,
    /// The tenant's display name.
    pub tenant_name: String,
    /// The flow id.
    pub flow_id: String,
    /// The tenant's RP ID.
    pub rp_id: String,
    /// `site` or `broker`.
    pub rp_mode: String,
    /// The browser must support Related Origin Requests for this tenant.
    pub needs_related_origins: bool,
    /// `login` or `create`.
    pub initial_view: String,
    /// Whether the page offers to create a passkey: not at the dashboard's sign-in,
    /// whose admins are created only from an invitation (which opens in `create`).
    pub registration_open: bool,
    /// Email hint ("" when absent).
    pub login_hint: String,
    /// The page's language tag (`en`, `ja`).
    pub lang: &'static str,
    /// The page's words in that language.
    pub t: &'static crate::i18n::PageText,
    /// The words its script shows as it runs, in that language.
    pub words: crate::i18n::ScriptWords,
    /// "Sign in to …" in that language.
    pub title: String,
    /// The Related Origin Requests notice in that language.
    pub ror_notice: String,
    /// Whether the page offers recovery by email (PROTOCOL E4).
    pub recovery_offered: bool,
    /// The recovery link's token, in recovery mode (`initial_view` `recovery`); else "".
    pub recovery_token: String,
    /// The site's address: the origin of the flow's registered redirect URI.
    pub site_url: String,
    /// "Back to …" in that language.
    pub back_to_site: String,
    /// The message when this device has no passkey of the site, in that language.
    pub no_passkey: String,
    /// Seconds the flow has left: the page says so itself once they have passed.
    pub flow_seconds_left: i64,
}

/// A page opened from an email link (PROTOCOL E4): a message, and a button that posts the
/// link's token when there is something to confirm.
#[derive(Template)]
#[template(path = "email_link.html")]
pub struct EmailLinkPage {
    /// Cache-busting asset version.
    pub asset_version: String,
    /// SRI of the style sheet.
    pub style_integrity: String,
    /// The page's language tag.
    pub lang: &'static str,
    /// Heading.
    pub title: String,
    /// What happened or what to do.
    pub message: String,
    /// Where the form posts ("" for no form).
    pub action: String,
    /// The token the form posts.
    pub token: String,
    /// The form's button.
    pub button: String,
    /// Footer.
    pub footer: String,
}

/// A plain-words page that opens no flow and never redirects: an error, or a sign-in
/// that is already finished. It says what happened and what the person can do; for a
/// site's mistake, a box tells the site's developer how to fix it.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    /// Cache-busting asset version.
    pub asset_version: String,
    /// SRI of the style sheet.
    pub style_integrity: String,
    /// SRI of the script.
    pub script_integrity: String,
    /// The page's language tag.
    pub lang: &'static str,
    /// Heading.
    pub title: String,
    /// What happened, for the person.
    pub message: String,
    /// What the person can do ("" when the message says it).
    pub advice: String,
    /// A link back to the site: the origin of a registered redirect URI ("" for none).
    pub back_href: String,
    /// Its words.
    pub back_label: String,
    /// Heading of the developer's box.
    pub developer_title: String,
    /// What the site's developer should fix ("" when nothing).
    pub developer: String,
    /// A closing line ("" for none).
    pub footnote: String,
    /// Footer.
    pub footer: String,
}

/// The built-in demo site's page (`--demo`).
#[derive(Template)]
#[template(path = "demo.html")]
pub struct DemoPage {
    /// Cache-busting asset version.
    pub asset_version: String,
    /// SRI of the style sheet.
    pub style_integrity: String,
    /// SRI of the script.
    pub script_integrity: String,
    /// Whether a sign-in was just redeemed.
    pub signed_in: bool,
    /// Why it failed ("" when it did not).
    pub error: String,
    /// The subject.
    pub sub: String,
    /// The passkey's credential id (base64url).
    pub passkey_id: String,
    /// The email, "" when none.
    pub email: String,
    /// Whether the account was created now.
    pub new_user: bool,
    /// Whether UV was performed.
    pub user_verified: bool,
    /// Whether the passkey is synced.
    pub backed_up: bool,
    /// The passkey's credential id shortened (the whole of it is `passkey_id`).
    pub passkey_short: String,
    /// The demo tenant's account page, linking back here.
    pub account_url: String,
}

/// The landing page at `/`.
#[derive(Template)]
#[template(path = "index.html")]
pub struct IndexPage {
    /// Cache-busting asset version.
    pub asset_version: String,
    /// SRI of the style sheet.
    pub style_integrity: String,
    /// SRI of the script.
    pub script_integrity: String,
    /// Whether the demo is on.
    pub demo: bool,
}

/// The account page (PROTOCOL §9).
#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage {
    /// Cache-busting asset version.
    pub asset_version: String,
    /// SRI of the style sheet.
    pub style_integrity: String,
    /// SRI of the shared WebAuthn script.
    pub webauthn_integrity: String,
    /// SRI of the account page's script.
    pub account_integrity: String,
    /// The page's language tag (`en`, `ja`).
    pub lang: &'static str,
    /// The sign-in page's words (footer, retry).
    pub t: &'static crate::i18n::PageText,
    /// The account page's words.
    pub a: &'static crate::i18n::AccountText,
    /// "Your account at …".
    pub title: String,
    /// The signed-out lead.
    pub lead: String,
    /// The flow id of the page's sign-in.
    pub flow_id: String,
    /// The tenant's RP ID.
    pub rp_id: String,
    /// The browser must support Related Origin Requests for this tenant.
    pub needs_related_origins: bool,
    /// The Related Origin Requests notice.
    pub ror_notice: String,
    /// Seconds the flow has left.
    pub flow_seconds_left: i64,
    /// Where the page links back to ("" when no `return_to` was given).
    pub return_to: String,
    /// "Back to …".
    pub back_to_site: String,
}
