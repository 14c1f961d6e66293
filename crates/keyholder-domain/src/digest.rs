//! N2: an org's local day and digest time (its `timezone`, `digest_time` settings).

use crate::model::OrgSettings;
use time::OffsetDateTime;

/// The time zone an org names, if it is one (the zone database is bundled).
pub fn zone(name: &str) -> Option<jiff::tz::TimeZone> {
    if name.is_empty() || name.len() > 64 {
        return None;
    }
    jiff::tz::TimeZone::get(name).ok()
}

/// `HH:MM` as (hour, minute).
pub fn clock(s: &str) -> Option<(i8, i8)> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !(h.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: i8 = h.parse().ok()?;
    let m: i8 = m.parse().ok()?;
    ((0..24).contains(&h) && (0..60).contains(&m)).then_some((h, m))
}

/// The org's local date at `at` (`YYYY-MM-DD`), and whether its digest time has come that day.
/// An unreadable setting falls back to the defaults (Europe/London, 16:00).
pub fn local_day(settings: &OrgSettings, at: OffsetDateTime) -> (String, bool) {
    let tz = zone(&settings.timezone)
        .or_else(|| zone("Europe/London"))
        .unwrap_or(jiff::tz::TimeZone::UTC);
    let (h, m) = clock(&settings.digest_time).unwrap_or((16, 0));
    let Ok(ts) = jiff::Timestamp::from_second(at.unix_timestamp()) else {
        return (String::new(), false);
    };
    let local = ts.to_zoned(tz);
    let due = (local.hour(), local.minute()) >= (h, m);
    (local.date().to_string(), due)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn n2_the_day_and_the_digest_time_are_the_orgs_local_ones() {
        let mut s = OrgSettings::default();
        // 15:30 UTC on 1 July is 16:30 in London (summer time): due.
        let summer = time::macros::datetime!(2026-07-01 15:30 UTC);
        assert_eq!(local_day(&s, summer), ("2026-07-01".into(), true));
        // 15:30 UTC on 1 December is 15:30 in London: not yet.
        let winter = time::macros::datetime!(2026-12-01 15:30 UTC);
        assert_eq!(local_day(&s, winter), ("2026-12-01".into(), false));
        s.timezone = "Australia/Sydney".into();
        s.digest_time = "07:00".into();
        // 23:30 UTC on 1 December is 10:30 on 2 December in Sydney.
        let late = time::macros::datetime!(2026-12-01 23:30 UTC);
        assert_eq!(local_day(&s, late), ("2026-12-02".into(), true));
        assert!(zone("Mars/Olympus").is_none() && zone("").is_none());
        for bad in [
            "24:00", "7:00", "07:60", "ab:cd", "", "07:00:00", "+1:+5", "-1:00",
        ] {
            assert!(clock(bad).is_none(), "{bad}");
        }
        assert_eq!(clock("00:00"), Some((0, 0)));
    }
}
