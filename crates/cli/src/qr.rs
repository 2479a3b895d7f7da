//! A QR code of the verification link, drawn with Unicode half blocks so a
//! phone can scan it off the terminal.

use qrcode::render::unicode::Dense1x2;
use qrcode::{EcLevel, QrCode};

/// The QR code of `text` as lines of text, dark modules on the terminal's
/// light background colour reversed so it scans on dark themes too; `None`
/// if the text is too long for a QR code.
pub(crate) fn render(text: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(text, EcLevel::L).ok()?;
    Some(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_verification_link_renders_as_half_blocks() {
        let drawn =
            render("https://device.sso.us-east-1.amazonaws.com/?user_code=PMPJ-VZCJ").unwrap();
        let lines: Vec<&str> = drawn.lines().collect();
        // Two modules per character row: a version-3 code (29 modules) plus
        // the quiet zone of 4 on each side is 37 wide and 19 rows high.
        assert!(lines.len() >= 15, "{}", lines.len());
        assert!(
            lines
                .iter()
                .all(|line| line.chars().count() == lines[0].chars().count())
        );
        assert!(drawn.chars().all(|c| " ▀▄█\n".contains(c)));
    }

    #[test]
    fn an_impossible_payload_is_none() {
        assert!(render(&"x".repeat(8000)).is_none());
    }
}
