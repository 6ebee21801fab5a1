//! ISO 4217 currency codes and the amounts written in them.
//!
//! An alert states the declared value of the goods, and under-valuation is one of the commonest risk
//! indicators, so the value must mean the same to both ends: a currency code from ISO 4217 and an amount
//! with no more decimals than the currency has (a declared value of "12500.001" US dollars is a typing
//! error, not a price).
//!
//! The table below is ISO 4217 List One as maintained by SIX (the maintenance agency) after the 2025
//! amendments: 178 active alphabetic codes with their minor units. Withdrawn codes are refused, with
//! their replacement named where there is one: `HRK` (Croatia adopted the euro in 2023), `BGN` (Bulgaria,
//! 2026), `ANG` (replaced by the Caribbean guilder `XCG`), `SLL` (redenominated as `SLE`), `ZWL` (replaced
//! by `ZWG`), `CUC` (withdrawn in Cuba's 2021 monetary unification).
//!
//! Codes without a minor unit in ISO 4217 ("N.A."): precious metals (`XAU`, `XAG`, `XPT`, `XPD`), units
//! of account (`XDR`, `XUA`, `XSU`, `XAD`, the bond-market units `XBA`-`XBD`), and the test and
//! no-currency codes `XTS` and `XXX`. An amount in one of them may have up to
//! [`Currency::MAX_DECIMALS_WITHOUT_MINOR_UNIT`] decimals (a weight of gold in troy ounces, say, is not rounded
//! to cents).

use super::InvalidCode;

/// How many digits an amount may have before its decimal point: up to 999 trillion, more than any
/// consignment is worth.
const MAX_INTEGER_DIGITS: usize = 15;

/// An active ISO 4217 alphabetic currency code, e.g. `KZT`, `USD`.
///
/// ```
/// use tulpar_core::codes::{Currency, parse_amount};
///
/// let usd = Currency::parse("USD")?;
/// assert_eq!(usd.minor_units(), Some(2));
/// assert!(parse_amount(&usd, "12500.00").is_ok());
/// assert_eq!(
///     parse_amount(&usd, "12500.001").unwrap_err().to_string(),
///     r#""12500.001" has 3 decimal places; USD allows at most 2"#
/// );
/// # Ok::<(), tulpar_core::codes::InvalidCode>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    /// How many decimals an amount may have in a currency that has no minor unit in ISO 4217.
    pub const MAX_DECIMALS_WITHOUT_MINOR_UNIT: u8 = 4;

    /// Accepts an active ISO 4217 code in upper case.
    pub fn parse(s: &str) -> Result<Self, InvalidCode> {
        const RULE: &str = "is not an active ISO 4217 currency code";
        let Ok(bytes) = <[u8; 3]>::try_from(s.as_bytes()) else {
            return Err(InvalidCode::new(
                s,
                format!("{RULE} (three upper-case letters)"),
            ));
        };
        if !bytes.iter().all(u8::is_ascii_alphabetic) {
            return Err(InvalidCode::new(
                s,
                format!("{RULE} (three upper-case letters)"),
            ));
        }
        let upper = bytes.map(|b| b.to_ascii_uppercase());
        let known = index_of(upper).is_some();
        if upper != bytes {
            let rule = if known {
                let upper = String::from_utf8_lossy(&upper);
                format!("{RULE} (use upper case: \"{upper}\")")
            } else {
                format!("{RULE} (three upper-case letters)")
            };
            return Err(InvalidCode::new(s, rule));
        }
        if !known {
            let rule = match WITHDRAWN.iter().find(|(code, _)| *code == s) {
                Some((_, replacement)) => {
                    format!("is a withdrawn ISO 4217 currency code (now {replacement})")
                }
                None => RULE.to_owned(),
            };
            return Err(InvalidCode::new(s, rule));
        }
        Ok(Self(bytes))
    }

    /// The three-letter code, e.g. `"KZT"`.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("a Currency holds three ASCII letters")
    }

    /// How many decimals the currency's minor unit has (2 for USD, 0 for JPY, 3 for KWD, 4 for CLF), or
    /// `None` for the codes ISO 4217 gives no minor unit (precious metals, units of account, `XTS`,
    /// `XXX`).
    pub fn minor_units(&self) -> Option<u8> {
        self.entry().1
    }

    /// The currency's name as ISO 4217 gives it, e.g. `"Tenge"`, `"US Dollar"`.
    pub fn name(&self) -> &'static str {
        self.entry().2
    }

    /// Every active code, in alphabetical order.
    pub fn all() -> impl Iterator<Item = Currency> {
        CURRENCIES.iter().map(|(code, _, _)| {
            let b = code.as_bytes();
            Currency([b[0], b[1], b[2]])
        })
    }

    /// This currency's row of [`CURRENCIES`].
    fn entry(&self) -> &'static (&'static str, Option<u8>, &'static str) {
        match index_of(self.0) {
            Some(i) => &CURRENCIES[i],
            None => unreachable!("a Currency is always in the table"),
        }
    }
}

code_text_traits!(Currency);

/// Checks that `amount` is a money amount that can be written in `currency`: digits with an optional `.`
/// and decimals (no sign, exponent, spaces or thousands separators), at most 15 digits before the point,
/// no leading zero (`0.50`, not `00.50`), and no more decimals than the currency's minor unit
/// ([`Currency::MAX_DECIMALS_WITHOUT_MINOR_UNIT`] for a currency without one). Trailing zeros are allowed
/// (`12500.00` in USD): they only say how the amount was written.
pub fn parse_amount(currency: &Currency, amount: &str) -> Result<(), InvalidCode> {
    const SHAPE: &str = "is not an amount (digits with an optional '.' and decimals, no sign, \
                         spaces or separators, e.g. 12500.00)";
    let (integer, decimals) = match amount.split_once('.') {
        Some((integer, decimals)) => (integer, Some(decimals)),
        None => (amount, None),
    };
    let digits_only = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits_only(integer) || !decimals.is_none_or(digits_only) {
        return Err(InvalidCode::new(amount, SHAPE));
    }
    if integer.len() > 1 && integer.starts_with('0') {
        return Err(InvalidCode::new(
            amount,
            "has a leading zero; write amounts without one",
        ));
    }
    if integer.len() > MAX_INTEGER_DIGITS {
        return Err(InvalidCode::new(
            amount,
            format!(
                "has {} digits before the decimal point; at most {MAX_INTEGER_DIGITS} are allowed",
                integer.len()
            ),
        ));
    }
    let places = decimals.map_or(0, str::len);
    let allowed = currency
        .minor_units()
        .unwrap_or(Currency::MAX_DECIMALS_WITHOUT_MINOR_UNIT);
    if places > usize::from(allowed) {
        let plural = if places == 1 { "place" } else { "places" };
        let limit = match allowed {
            0 => "none".to_owned(),
            n => format!("at most {n}"),
        };
        return Err(InvalidCode::new(
            amount,
            format!("has {places} decimal {plural}; {currency} allows {limit}"),
        ));
    }
    Ok(())
}

/// Where `code` is in [`CURRENCIES`], if it is there.
fn index_of(code: [u8; 3]) -> Option<usize> {
    CURRENCIES
        .binary_search_by(|(c, _, _)| c.as_bytes().cmp(&code[..]))
        .ok()
}

/// Codes withdrawn in recent years that documents still carry, with what replaced them.
const WITHDRAWN: [(&str, &str); 16] = [
    ("ANG", "XCG"),
    ("BGN", "EUR"),
    ("BYR", "BYN"),
    ("CUC", "CUP"),
    ("EEK", "EUR"),
    ("HRK", "EUR"),
    ("LTL", "EUR"),
    ("LVL", "EUR"),
    ("MRO", "MRU"),
    ("SKK", "EUR"),
    ("SLL", "SLE"),
    ("STD", "STN"),
    ("TMM", "TMT"),
    ("VEF", "VES"),
    ("ZMK", "ZMW"),
    ("ZWL", "ZWG"),
];

/// The active ISO 4217 alphabetic codes (List One), sorted by code, with their minor units (`None` where
/// ISO 4217 says "N.A.") and names.
static CURRENCIES: [(&str, Option<u8>, &str); 178] = [
    ("AED", Some(2), "UAE Dirham"),
    ("AFN", Some(2), "Afghani"),
    ("ALL", Some(2), "Lek"),
    ("AMD", Some(2), "Armenian Dram"),
    ("AOA", Some(2), "Kwanza"),
    ("ARS", Some(2), "Argentine Peso"),
    ("AUD", Some(2), "Australian Dollar"),
    ("AWG", Some(2), "Aruban Florin"),
    ("AZN", Some(2), "Azerbaijan Manat"),
    ("BAM", Some(2), "Convertible Mark"),
    ("BBD", Some(2), "Barbados Dollar"),
    ("BDT", Some(2), "Taka"),
    ("BHD", Some(3), "Bahraini Dinar"),
    ("BIF", Some(0), "Burundi Franc"),
    ("BMD", Some(2), "Bermudian Dollar"),
    ("BND", Some(2), "Brunei Dollar"),
    ("BOB", Some(2), "Boliviano"),
    ("BOV", Some(2), "Mvdol"),
    ("BRL", Some(2), "Brazilian Real"),
    ("BSD", Some(2), "Bahamian Dollar"),
    ("BTN", Some(2), "Ngultrum"),
    ("BWP", Some(2), "Pula"),
    ("BYN", Some(2), "Belarusian Ruble"),
    ("BZD", Some(2), "Belize Dollar"),
    ("CAD", Some(2), "Canadian Dollar"),
    ("CDF", Some(2), "Congolese Franc"),
    ("CHE", Some(2), "WIR Euro"),
    ("CHF", Some(2), "Swiss Franc"),
    ("CHW", Some(2), "WIR Franc"),
    ("CLF", Some(4), "Unidad de Fomento"),
    ("CLP", Some(0), "Chilean Peso"),
    ("CNY", Some(2), "Yuan Renminbi"),
    ("COP", Some(2), "Colombian Peso"),
    ("COU", Some(2), "Unidad de Valor Real"),
    ("CRC", Some(2), "Costa Rican Colon"),
    ("CUP", Some(2), "Cuban Peso"),
    ("CVE", Some(2), "Cabo Verde Escudo"),
    ("CZK", Some(2), "Czech Koruna"),
    ("DJF", Some(0), "Djibouti Franc"),
    ("DKK", Some(2), "Danish Krone"),
    ("DOP", Some(2), "Dominican Peso"),
    ("DZD", Some(2), "Algerian Dinar"),
    ("EGP", Some(2), "Egyptian Pound"),
    ("ERN", Some(2), "Nakfa"),
    ("ETB", Some(2), "Ethiopian Birr"),
    ("EUR", Some(2), "Euro"),
    ("FJD", Some(2), "Fiji Dollar"),
    ("FKP", Some(2), "Falkland Islands Pound"),
    ("GBP", Some(2), "Pound Sterling"),
    ("GEL", Some(2), "Lari"),
    ("GHS", Some(2), "Ghana Cedi"),
    ("GIP", Some(2), "Gibraltar Pound"),
    ("GMD", Some(2), "Dalasi"),
    ("GNF", Some(0), "Guinean Franc"),
    ("GTQ", Some(2), "Quetzal"),
    ("GYD", Some(2), "Guyana Dollar"),
    ("HKD", Some(2), "Hong Kong Dollar"),
    ("HNL", Some(2), "Lempira"),
    ("HTG", Some(2), "Gourde"),
    ("HUF", Some(2), "Forint"),
    ("IDR", Some(2), "Rupiah"),
    ("ILS", Some(2), "New Israeli Sheqel"),
    ("INR", Some(2), "Indian Rupee"),
    ("IQD", Some(3), "Iraqi Dinar"),
    ("IRR", Some(2), "Iranian Rial"),
    ("ISK", Some(0), "Iceland Krona"),
    ("JMD", Some(2), "Jamaican Dollar"),
    ("JOD", Some(3), "Jordanian Dinar"),
    ("JPY", Some(0), "Yen"),
    ("KES", Some(2), "Kenyan Shilling"),
    ("KGS", Some(2), "Som"),
    ("KHR", Some(2), "Riel"),
    ("KMF", Some(0), "Comorian Franc"),
    ("KPW", Some(2), "North Korean Won"),
    ("KRW", Some(0), "Won"),
    ("KWD", Some(3), "Kuwaiti Dinar"),
    ("KYD", Some(2), "Cayman Islands Dollar"),
    ("KZT", Some(2), "Tenge"),
    ("LAK", Some(2), "Lao Kip"),
    ("LBP", Some(2), "Lebanese Pound"),
    ("LKR", Some(2), "Sri Lanka Rupee"),
    ("LRD", Some(2), "Liberian Dollar"),
    ("LSL", Some(2), "Loti"),
    ("LYD", Some(3), "Libyan Dinar"),
    ("MAD", Some(2), "Moroccan Dirham"),
    ("MDL", Some(2), "Moldovan Leu"),
    ("MGA", Some(2), "Malagasy Ariary"),
    ("MKD", Some(2), "Denar"),
    ("MMK", Some(2), "Kyat"),
    ("MNT", Some(2), "Tugrik"),
    ("MOP", Some(2), "Pataca"),
    ("MRU", Some(2), "Ouguiya"),
    ("MUR", Some(2), "Mauritius Rupee"),
    ("MVR", Some(2), "Rufiyaa"),
    ("MWK", Some(2), "Malawi Kwacha"),
    ("MXN", Some(2), "Mexican Peso"),
    ("MXV", Some(2), "Mexican Unidad de Inversion (UDI)"),
    ("MYR", Some(2), "Malaysian Ringgit"),
    ("MZN", Some(2), "Mozambique Metical"),
    ("NAD", Some(2), "Namibia Dollar"),
    ("NGN", Some(2), "Naira"),
    ("NIO", Some(2), "Cordoba Oro"),
    ("NOK", Some(2), "Norwegian Krone"),
    ("NPR", Some(2), "Nepalese Rupee"),
    ("NZD", Some(2), "New Zealand Dollar"),
    ("OMR", Some(3), "Rial Omani"),
    ("PAB", Some(2), "Balboa"),
    ("PEN", Some(2), "Sol"),
    ("PGK", Some(2), "Kina"),
    ("PHP", Some(2), "Philippine Peso"),
    ("PKR", Some(2), "Pakistan Rupee"),
    ("PLN", Some(2), "Zloty"),
    ("PYG", Some(0), "Guarani"),
    ("QAR", Some(2), "Qatari Rial"),
    ("RON", Some(2), "Romanian Leu"),
    ("RSD", Some(2), "Serbian Dinar"),
    ("RUB", Some(2), "Russian Ruble"),
    ("RWF", Some(0), "Rwanda Franc"),
    ("SAR", Some(2), "Saudi Riyal"),
    ("SBD", Some(2), "Solomon Islands Dollar"),
    ("SCR", Some(2), "Seychelles Rupee"),
    ("SDG", Some(2), "Sudanese Pound"),
    ("SEK", Some(2), "Swedish Krona"),
    ("SGD", Some(2), "Singapore Dollar"),
    ("SHP", Some(2), "Saint Helena Pound"),
    ("SLE", Some(2), "Leone"),
    ("SOS", Some(2), "Somali Shilling"),
    ("SRD", Some(2), "Surinam Dollar"),
    ("SSP", Some(2), "South Sudanese Pound"),
    ("STN", Some(2), "Dobra"),
    ("SVC", Some(2), "El Salvador Colon"),
    ("SYP", Some(2), "Syrian Pound"),
    ("SZL", Some(2), "Lilangeni"),
    ("THB", Some(2), "Baht"),
    ("TJS", Some(2), "Somoni"),
    ("TMT", Some(2), "Turkmenistan New Manat"),
    ("TND", Some(3), "Tunisian Dinar"),
    ("TOP", Some(2), "Pa’anga"),
    ("TRY", Some(2), "Turkish Lira"),
    ("TTD", Some(2), "Trinidad and Tobago Dollar"),
    ("TWD", Some(2), "New Taiwan Dollar"),
    ("TZS", Some(2), "Tanzanian Shilling"),
    ("UAH", Some(2), "Hryvnia"),
    ("UGX", Some(0), "Uganda Shilling"),
    ("USD", Some(2), "US Dollar"),
    ("USN", Some(2), "US Dollar (Next day)"),
    ("UYI", Some(0), "Uruguay Peso en Unidades Indexadas (UI)"),
    ("UYU", Some(2), "Peso Uruguayo"),
    ("UYW", Some(4), "Unidad Previsional"),
    ("UZS", Some(2), "Uzbekistan Sum"),
    ("VED", Some(2), "Bolívar Soberano"),
    ("VES", Some(2), "Bolívar Soberano"),
    ("VND", Some(0), "Dong"),
    ("VUV", Some(0), "Vatu"),
    ("WST", Some(2), "Tala"),
    ("XAD", None, "Arab Accounting Dinar"),
    ("XAF", Some(0), "CFA Franc BEAC"),
    ("XAG", None, "Silver"),
    ("XAU", None, "Gold"),
    (
        "XBA",
        None,
        "Bond Markets Unit European Composite Unit (EURCO)",
    ),
    (
        "XBB",
        None,
        "Bond Markets Unit European Monetary Unit (E.M.U.-6)",
    ),
    (
        "XBC",
        None,
        "Bond Markets Unit European Unit of Account 9 (E.U.A.-9)",
    ),
    (
        "XBD",
        None,
        "Bond Markets Unit European Unit of Account 17 (E.U.A.-17)",
    ),
    ("XCD", Some(2), "East Caribbean Dollar"),
    ("XCG", Some(2), "Caribbean Guilder"),
    ("XDR", None, "SDR (Special Drawing Right)"),
    ("XOF", Some(0), "CFA Franc BCEAO"),
    ("XPD", None, "Palladium"),
    ("XPF", Some(0), "CFP Franc"),
    ("XPT", None, "Platinum"),
    ("XSU", None, "Sucre"),
    (
        "XTS",
        None,
        "Codes specifically reserved for testing purposes",
    ),
    ("XUA", None, "ADB Unit of Account"),
    (
        "XXX",
        None,
        "The codes assigned for transactions where no currency is involved",
    ),
    ("YER", Some(2), "Yemeni Rial"),
    ("ZAR", Some(2), "Rand"),
    ("ZMW", Some(2), "Zambian Kwacha"),
    ("ZWG", Some(2), "Zimbabwe Gold"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn currency(code: &str) -> Currency {
        Currency::parse(code).expect(code)
    }

    #[test]
    fn the_table_is_sorted_and_well_formed() {
        assert_eq!(CURRENCIES.len(), 178);
        assert!(
            CURRENCIES.windows(2).all(|w| w[0].0 < w[1].0),
            "sorted, no duplicates"
        );
        for (code, minor, name) in CURRENCIES {
            assert!(code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()));
            assert!(minor.is_none_or(|m| m <= 4), "{code}");
            assert!(!name.is_empty());
            assert_eq!(currency(code).minor_units(), minor);
        }
        assert_eq!(Currency::all().count(), 178);
        for (code, replacement) in WITHDRAWN {
            assert!(CURRENCIES.iter().all(|c| c.0 != code), "{code}");
            assert!(Currency::parse(replacement).is_ok(), "{replacement}");
        }
    }

    #[test]
    fn the_currencies_of_the_region_and_of_trade_are_there() {
        for (code, minor) in [
            ("KZT", Some(2)),
            ("UZS", Some(2)),
            ("TJS", Some(2)),
            ("KGS", Some(2)),
            ("TMT", Some(2)),
            ("AZN", Some(2)),
            ("AFN", Some(2)),
            ("RUB", Some(2)),
            ("CNY", Some(2)),
            ("USD", Some(2)),
            ("EUR", Some(2)),
            ("JPY", Some(0)),
            ("KRW", Some(0)),
            ("KWD", Some(3)),
            ("BHD", Some(3)),
            ("CLF", Some(4)),
            ("XAU", None),
            ("XDR", None),
            ("XCG", Some(2)),
            ("ZWG", Some(2)),
            ("SLE", Some(2)),
        ] {
            let c = currency(code);
            assert_eq!(c.as_str(), code);
            assert_eq!(c.to_string(), code);
            assert_eq!(c.minor_units(), minor, "{code}");
            assert_eq!(code.parse::<Currency>(), Ok(c));
        }
        assert_eq!(currency("KZT").name(), "Tenge");
        assert_eq!(format!("{:?}", currency("KZT")), r#"Currency("KZT")"#);
    }

    #[test]
    fn unknown_withdrawn_and_malformed_codes_are_refused() {
        assert_eq!(
            Currency::parse("ABC").map_err(|e| e.to_string()),
            Err(r#""ABC" is not an active ISO 4217 currency code"#.to_owned())
        );
        assert_eq!(
            Currency::parse("HRK").map_err(|e| e.to_string()),
            Err(r#""HRK" is a withdrawn ISO 4217 currency code (now EUR)"#.to_owned())
        );
        assert_eq!(
            Currency::parse("usd").map_err(|e| e.to_string()),
            Err(
                r#""usd" is not an active ISO 4217 currency code (use upper case: "USD")"#
                    .to_owned()
            )
        );
        for s in [
            "", "US", "USDD", "US1", "$", "U S", "ЕВР", "RUR", "SUR", "ANG", "ZWL", "BGN",
        ] {
            assert!(Currency::parse(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn amounts_within_the_minor_unit_are_accepted() {
        for (code, amount) in [
            ("USD", "12500.00"),
            ("USD", "12500"),
            ("USD", "12500.5"),
            ("USD", "0"),
            ("USD", "0.01"),
            ("USD", "999999999999999.99"),
            ("JPY", "1500000"),
            ("KWD", "12.345"),
            ("CLF", "1.2345"),
            ("XAU", "10.1234"),
            ("KZT", "5400000.00"),
        ] {
            assert_eq!(
                parse_amount(&currency(code), amount),
                Ok(()),
                "{amount} {code}"
            );
        }
    }

    #[test]
    fn amounts_with_too_many_decimals_name_the_limit() {
        let refused = |code: &str, amount: &str| {
            parse_amount(&currency(code), amount)
                .map_err(|e| e.to_string())
                .expect_err(amount)
        };
        assert_eq!(
            refused("USD", "12500.001"),
            r#""12500.001" has 3 decimal places; USD allows at most 2"#
        );
        assert_eq!(
            refused("JPY", "1500.0"),
            r#""1500.0" has 1 decimal place; JPY allows none"#
        );
        assert_eq!(
            refused("KWD", "1.2345"),
            r#""1.2345" has 4 decimal places; KWD allows at most 3"#
        );
        assert_eq!(
            refused("XAU", "1.23456"),
            r#""1.23456" has 5 decimal places; XAU allows at most 4"#
        );
    }

    #[test]
    fn malformed_amounts_are_refused() {
        let usd = currency("USD");
        for amount in [
            "",
            ".",
            "-1",
            "+1",
            "1e3",
            "1E3",
            "12 500",
            "12,500.00",
            "12500.",
            ".50",
            "1.2.3",
            " 1",
            "1 ",
            "0x10",
            "NaN",
            "inf",
            "１２",
        ] {
            let e = parse_amount(&usd, amount).expect_err(amount);
            assert!(e.rule.starts_with("is not an amount"), "{amount:?}: {e}");
        }
        assert!(parse_amount(&usd, "012").is_err());
        assert!(parse_amount(&usd, "00.50").is_err());
        let e = parse_amount(&usd, "1234567890123456").expect_err("16 digits");
        assert!(e.rule.contains("at most 15"), "{e}");
    }
}
