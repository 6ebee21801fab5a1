//! ISO 3166-1 alpha-2 country codes.
//!
//! A country code says which national node an alert comes from and which ones it goes to, so an unknown
//! code is not a cosmetic error: it names a partner that does not exist. The table below is the list of
//! the 249 *officially assigned* alpha-2 codes (as published by the ISO 3166 Maintenance Agency and
//! carried by the Debian `iso-codes` package), with their English short names. User-assigned codes such
//! as `XK` (used by some for Kosovo), exceptionally reserved ones such as `UK` and `EU`, and withdrawn ones
//! such as `SU` are refused: they are not countries a node can be registered for.

use super::InvalidCode;

/// An officially assigned ISO 3166-1 alpha-2 country code, e.g. `KZ`.
///
/// ```
/// use tulpar_core::codes::CountryCode;
///
/// let kz = CountryCode::parse("KZ")?;
/// assert_eq!(kz.as_str(), "KZ");
/// assert_eq!(kz.name(), "Kazakhstan");
/// assert!(CountryCode::parse("kz").is_err()); // upper case only
/// assert!(CountryCode::parse("UK").is_err()); // the United Kingdom is GB
/// # Ok::<(), tulpar_core::codes::InvalidCode>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// Accepts an officially assigned alpha-2 code in upper case.
    pub fn parse(s: &str) -> Result<Self, InvalidCode> {
        const RULE: &str = "is not an ISO 3166-1 alpha-2 country code";
        let bytes = s.as_bytes();
        let [a, b] = bytes else {
            return Err(
                InvalidCode::new(s, format!("{RULE} (two upper-case letters)"))
                    .local("country", &[]),
            );
        };
        if !a.is_ascii_alphabetic() || !b.is_ascii_alphabetic() {
            return Err(
                InvalidCode::new(s, format!("{RULE} (two upper-case letters)"))
                    .local("country", &[]),
            );
        }
        let upper = [a.to_ascii_uppercase(), b.to_ascii_uppercase()];
        let known = index_of(upper).is_some();
        if upper != [*a, *b] {
            let rule = if known {
                format!(
                    "{RULE} (use upper case: \"{}{}\")",
                    upper[0] as char, upper[1] as char
                )
            } else {
                format!("{RULE} (two upper-case letters)")
            };
            return Err(InvalidCode::new(s, rule).local("country", &[]));
        }
        if !known {
            let rule = match s {
                "UK" => format!("{RULE} (the United Kingdom is GB)"),
                "EL" => format!("{RULE} (Greece is GR)"),
                "EU" => {
                    format!("{RULE} (the European Union is not a country; name its member states)")
                }
                _ => RULE.to_owned(),
            };
            return Err(InvalidCode::new(s, rule).local("country", &[]));
        }
        Ok(Self(upper))
    }

    /// The two-letter code, e.g. `"KZ"`.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("a CountryCode holds two ASCII letters")
    }

    /// The English short name of the country as ISO 3166-1 gives it, e.g. `"Kazakhstan"`,
    /// `"Korea, Republic of"`.
    pub fn name(&self) -> &'static str {
        match index_of(self.0) {
            Some(i) => COUNTRIES[i].1,
            None => unreachable!("a CountryCode is always in the table"),
        }
    }

    /// Every officially assigned code, in alphabetical order.
    pub fn all() -> impl Iterator<Item = CountryCode> {
        COUNTRIES.iter().map(|(code, _)| {
            let b = code.as_bytes();
            CountryCode([b[0], b[1]])
        })
    }
}

code_text_traits!(CountryCode);

/// Where `code` is in [`COUNTRIES`], if it is there.
fn index_of(code: [u8; 2]) -> Option<usize> {
    COUNTRIES
        .binary_search_by(|(c, _)| c.as_bytes().cmp(&code[..]))
        .ok()
}

/// The officially assigned ISO 3166-1 alpha-2 codes with their English short names, sorted by code.
static COUNTRIES: [(&str, &str); 249] = [
    ("AD", "Andorra"),
    ("AE", "United Arab Emirates"),
    ("AF", "Afghanistan"),
    ("AG", "Antigua and Barbuda"),
    ("AI", "Anguilla"),
    ("AL", "Albania"),
    ("AM", "Armenia"),
    ("AO", "Angola"),
    ("AQ", "Antarctica"),
    ("AR", "Argentina"),
    ("AS", "American Samoa"),
    ("AT", "Austria"),
    ("AU", "Australia"),
    ("AW", "Aruba"),
    ("AX", "Åland Islands"),
    ("AZ", "Azerbaijan"),
    ("BA", "Bosnia and Herzegovina"),
    ("BB", "Barbados"),
    ("BD", "Bangladesh"),
    ("BE", "Belgium"),
    ("BF", "Burkina Faso"),
    ("BG", "Bulgaria"),
    ("BH", "Bahrain"),
    ("BI", "Burundi"),
    ("BJ", "Benin"),
    ("BL", "Saint Barthélemy"),
    ("BM", "Bermuda"),
    ("BN", "Brunei Darussalam"),
    ("BO", "Bolivia, Plurinational State of"),
    ("BQ", "Bonaire, Sint Eustatius and Saba"),
    ("BR", "Brazil"),
    ("BS", "Bahamas"),
    ("BT", "Bhutan"),
    ("BV", "Bouvet Island"),
    ("BW", "Botswana"),
    ("BY", "Belarus"),
    ("BZ", "Belize"),
    ("CA", "Canada"),
    ("CC", "Cocos (Keeling) Islands"),
    ("CD", "Congo, The Democratic Republic of the"),
    ("CF", "Central African Republic"),
    ("CG", "Congo"),
    ("CH", "Switzerland"),
    ("CI", "Côte d'Ivoire"),
    ("CK", "Cook Islands"),
    ("CL", "Chile"),
    ("CM", "Cameroon"),
    ("CN", "China"),
    ("CO", "Colombia"),
    ("CR", "Costa Rica"),
    ("CU", "Cuba"),
    ("CV", "Cabo Verde"),
    ("CW", "Curaçao"),
    ("CX", "Christmas Island"),
    ("CY", "Cyprus"),
    ("CZ", "Czechia"),
    ("DE", "Germany"),
    ("DJ", "Djibouti"),
    ("DK", "Denmark"),
    ("DM", "Dominica"),
    ("DO", "Dominican Republic"),
    ("DZ", "Algeria"),
    ("EC", "Ecuador"),
    ("EE", "Estonia"),
    ("EG", "Egypt"),
    ("EH", "Western Sahara"),
    ("ER", "Eritrea"),
    ("ES", "Spain"),
    ("ET", "Ethiopia"),
    ("FI", "Finland"),
    ("FJ", "Fiji"),
    ("FK", "Falkland Islands (Malvinas)"),
    ("FM", "Micronesia, Federated States of"),
    ("FO", "Faroe Islands"),
    ("FR", "France"),
    ("GA", "Gabon"),
    ("GB", "United Kingdom"),
    ("GD", "Grenada"),
    ("GE", "Georgia"),
    ("GF", "French Guiana"),
    ("GG", "Guernsey"),
    ("GH", "Ghana"),
    ("GI", "Gibraltar"),
    ("GL", "Greenland"),
    ("GM", "Gambia"),
    ("GN", "Guinea"),
    ("GP", "Guadeloupe"),
    ("GQ", "Equatorial Guinea"),
    ("GR", "Greece"),
    ("GS", "South Georgia and the South Sandwich Islands"),
    ("GT", "Guatemala"),
    ("GU", "Guam"),
    ("GW", "Guinea-Bissau"),
    ("GY", "Guyana"),
    ("HK", "Hong Kong"),
    ("HM", "Heard Island and McDonald Islands"),
    ("HN", "Honduras"),
    ("HR", "Croatia"),
    ("HT", "Haiti"),
    ("HU", "Hungary"),
    ("ID", "Indonesia"),
    ("IE", "Ireland"),
    ("IL", "Israel"),
    ("IM", "Isle of Man"),
    ("IN", "India"),
    ("IO", "British Indian Ocean Territory"),
    ("IQ", "Iraq"),
    ("IR", "Iran, Islamic Republic of"),
    ("IS", "Iceland"),
    ("IT", "Italy"),
    ("JE", "Jersey"),
    ("JM", "Jamaica"),
    ("JO", "Jordan"),
    ("JP", "Japan"),
    ("KE", "Kenya"),
    ("KG", "Kyrgyzstan"),
    ("KH", "Cambodia"),
    ("KI", "Kiribati"),
    ("KM", "Comoros"),
    ("KN", "Saint Kitts and Nevis"),
    ("KP", "Korea, Democratic People's Republic of"),
    ("KR", "Korea, Republic of"),
    ("KW", "Kuwait"),
    ("KY", "Cayman Islands"),
    ("KZ", "Kazakhstan"),
    ("LA", "Lao People's Democratic Republic"),
    ("LB", "Lebanon"),
    ("LC", "Saint Lucia"),
    ("LI", "Liechtenstein"),
    ("LK", "Sri Lanka"),
    ("LR", "Liberia"),
    ("LS", "Lesotho"),
    ("LT", "Lithuania"),
    ("LU", "Luxembourg"),
    ("LV", "Latvia"),
    ("LY", "Libya"),
    ("MA", "Morocco"),
    ("MC", "Monaco"),
    ("MD", "Moldova, Republic of"),
    ("ME", "Montenegro"),
    ("MF", "Saint Martin (French part)"),
    ("MG", "Madagascar"),
    ("MH", "Marshall Islands"),
    ("MK", "North Macedonia"),
    ("ML", "Mali"),
    ("MM", "Myanmar"),
    ("MN", "Mongolia"),
    ("MO", "Macao"),
    ("MP", "Northern Mariana Islands"),
    ("MQ", "Martinique"),
    ("MR", "Mauritania"),
    ("MS", "Montserrat"),
    ("MT", "Malta"),
    ("MU", "Mauritius"),
    ("MV", "Maldives"),
    ("MW", "Malawi"),
    ("MX", "Mexico"),
    ("MY", "Malaysia"),
    ("MZ", "Mozambique"),
    ("NA", "Namibia"),
    ("NC", "New Caledonia"),
    ("NE", "Niger"),
    ("NF", "Norfolk Island"),
    ("NG", "Nigeria"),
    ("NI", "Nicaragua"),
    ("NL", "Netherlands"),
    ("NO", "Norway"),
    ("NP", "Nepal"),
    ("NR", "Nauru"),
    ("NU", "Niue"),
    ("NZ", "New Zealand"),
    ("OM", "Oman"),
    ("PA", "Panama"),
    ("PE", "Peru"),
    ("PF", "French Polynesia"),
    ("PG", "Papua New Guinea"),
    ("PH", "Philippines"),
    ("PK", "Pakistan"),
    ("PL", "Poland"),
    ("PM", "Saint Pierre and Miquelon"),
    ("PN", "Pitcairn"),
    ("PR", "Puerto Rico"),
    ("PS", "Palestine, State of"),
    ("PT", "Portugal"),
    ("PW", "Palau"),
    ("PY", "Paraguay"),
    ("QA", "Qatar"),
    ("RE", "Réunion"),
    ("RO", "Romania"),
    ("RS", "Serbia"),
    ("RU", "Russian Federation"),
    ("RW", "Rwanda"),
    ("SA", "Saudi Arabia"),
    ("SB", "Solomon Islands"),
    ("SC", "Seychelles"),
    ("SD", "Sudan"),
    ("SE", "Sweden"),
    ("SG", "Singapore"),
    ("SH", "Saint Helena, Ascension and Tristan da Cunha"),
    ("SI", "Slovenia"),
    ("SJ", "Svalbard and Jan Mayen"),
    ("SK", "Slovakia"),
    ("SL", "Sierra Leone"),
    ("SM", "San Marino"),
    ("SN", "Senegal"),
    ("SO", "Somalia"),
    ("SR", "Suriname"),
    ("SS", "South Sudan"),
    ("ST", "Sao Tome and Principe"),
    ("SV", "El Salvador"),
    ("SX", "Sint Maarten (Dutch part)"),
    ("SY", "Syrian Arab Republic"),
    ("SZ", "Eswatini"),
    ("TC", "Turks and Caicos Islands"),
    ("TD", "Chad"),
    ("TF", "French Southern Territories"),
    ("TG", "Togo"),
    ("TH", "Thailand"),
    ("TJ", "Tajikistan"),
    ("TK", "Tokelau"),
    ("TL", "Timor-Leste"),
    ("TM", "Turkmenistan"),
    ("TN", "Tunisia"),
    ("TO", "Tonga"),
    ("TR", "Türkiye"),
    ("TT", "Trinidad and Tobago"),
    ("TV", "Tuvalu"),
    ("TW", "Taiwan, Province of China"),
    ("TZ", "Tanzania, United Republic of"),
    ("UA", "Ukraine"),
    ("UG", "Uganda"),
    ("UM", "United States Minor Outlying Islands"),
    ("US", "United States"),
    ("UY", "Uruguay"),
    ("UZ", "Uzbekistan"),
    ("VA", "Holy See (Vatican City State)"),
    ("VC", "Saint Vincent and the Grenadines"),
    ("VE", "Venezuela, Bolivarian Republic of"),
    ("VG", "Virgin Islands, British"),
    ("VI", "Virgin Islands, U.S."),
    ("VN", "Viet Nam"),
    ("VU", "Vanuatu"),
    ("WF", "Wallis and Futuna"),
    ("WS", "Samoa"),
    ("YE", "Yemen"),
    ("YT", "Mayotte"),
    ("ZA", "South Africa"),
    ("ZM", "Zambia"),
    ("ZW", "Zimbabwe"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_the_249_assigned_codes_sorted_and_well_formed() {
        assert_eq!(COUNTRIES.len(), 249);
        assert!(
            COUNTRIES.windows(2).all(|w| w[0].0 < w[1].0),
            "sorted, no duplicates"
        );
        for (code, name) in COUNTRIES {
            assert!(
                code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()),
                "{code}"
            );
            assert!(!name.is_empty());
            assert_eq!(CountryCode::parse(code).map(|c| c.name()), Ok(name));
        }
        assert_eq!(CountryCode::all().count(), 249);
    }

    #[test]
    fn known_codes_are_accepted() {
        for (code, name) in [
            ("KZ", "Kazakhstan"),
            ("UZ", "Uzbekistan"),
            ("TJ", "Tajikistan"),
            ("KG", "Kyrgyzstan"),
            ("TM", "Turkmenistan"),
            ("AZ", "Azerbaijan"),
            ("AF", "Afghanistan"),
            ("CN", "China"),
            ("RU", "Russian Federation"),
            ("GB", "United Kingdom"),
            ("AX", "Åland Islands"),
            ("BQ", "Bonaire, Sint Eustatius and Saba"),
            ("CW", "Curaçao"),
            ("SS", "South Sudan"),
            ("SX", "Sint Maarten (Dutch part)"),
        ] {
            let c = CountryCode::parse(code).expect(code);
            assert_eq!(c.as_str(), code);
            assert_eq!(c.to_string(), code);
            assert_eq!(c.name(), name);
            assert_eq!(code.parse::<CountryCode>(), Ok(c));
        }
    }

    #[test]
    fn unassigned_and_reserved_codes_are_refused() {
        for code in ["XX", "UK", "EU", "XK", "SU", "YU", "AN", "ZZ", "EL", "AA"] {
            let e = CountryCode::parse(code).expect_err(code);
            assert_eq!(e.value, code);
            assert!(
                e.rule
                    .starts_with("is not an ISO 3166-1 alpha-2 country code"),
                "{e}"
            );
        }
        assert_eq!(
            CountryCode::parse("XX").map_err(|e| e.to_string()),
            Err(r#""XX" is not an ISO 3166-1 alpha-2 country code"#.to_owned())
        );
        assert!(
            CountryCode::parse("UK")
                .map_err(|e| e.rule)
                .unwrap_err()
                .contains("GB")
        );
    }

    #[test]
    fn lower_case_and_malformed_input_is_refused() {
        assert_eq!(
            CountryCode::parse("kz").map_err(|e| e.to_string()),
            Err(
                r#""kz" is not an ISO 3166-1 alpha-2 country code (use upper case: "KZ")"#
                    .to_owned()
            )
        );
        for s in [
            "Kz", "kZ", "", "K", "KAZ", "K1", "12", " KZ", "KZ ", "КЗ", "ÅX",
        ] {
            assert!(CountryCode::parse(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn debug_shows_the_code_and_order_is_alphabetical() {
        let kz = CountryCode::parse("KZ").expect("KZ");
        let uz = CountryCode::parse("UZ").expect("UZ");
        assert_eq!(format!("{kz:?}"), r#"CountryCode("KZ")"#);
        assert!(kz < uz);
    }
}
