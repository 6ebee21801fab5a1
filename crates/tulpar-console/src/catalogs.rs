//! The console's words in each language: Project Fluent catalogs from `locales/<language>/*.ftl`,
//! embedded at build time. A message missing from a language falls back to English, so a catalog being
//! translated still gives whole pages; the tests hold Russian and English to the same messages.

use std::collections::BTreeMap;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use unic_langid::LanguageIdentifier;

include!(concat!(env!("OUT_DIR"), "/catalogs.rs"));

/// The language every other falls back to.
pub const FALLBACK_LANGUAGE: &str = "en";

type Bundle = FluentBundle<FluentResource>;

/// A catalog that does not load.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A file's syntax is wrong.
    #[error("locales/{language}/{file}, line {line}: {error}")]
    Syntax {
        /// The language folder.
        language: String,
        /// The file.
        file: String,
        /// The first bad line.
        line: usize,
        /// What is wrong.
        error: String,
    },
    /// A folder's name is not a language tag, or a message is defined twice.
    #[error("locales/{language}: {error}")]
    Language {
        /// The language folder.
        language: String,
        /// What is wrong.
        error: String,
    },
}

/// The codes of the languages there are catalogs for, without loading them.
pub fn language_codes() -> Vec<&'static str> {
    let mut codes: Vec<&'static str> = EMBEDDED.iter().map(|(language, _, _)| *language).collect();
    codes.dedup();
    codes
}

/// Every language's catalogs.
pub struct Catalogs {
    bundles: BTreeMap<String, Bundle>,
}

impl Catalogs {
    /// Parses every embedded catalog; refuses any with an error, naming the file and line.
    pub fn load() -> Result<Self, CatalogError> {
        Self::from_files(EMBEDDED)
    }

    fn from_files(files: &[(&str, &str, &str)]) -> Result<Self, CatalogError> {
        let mut bundles = BTreeMap::new();
        for (language, file, text) in files {
            let resource = FluentResource::try_new((*text).to_owned()).map_err(|(_, errors)| {
                let first = errors.first();
                let offset = first.map_or(0, |e| e.pos.start);
                CatalogError::Syntax {
                    language: (*language).to_owned(),
                    file: (*file).to_owned(),
                    line: text[..offset.min(text.len())].lines().count().max(1),
                    error: first.map_or_else(String::new, |e| e.kind.to_string()),
                }
            })?;
            let bundle = match bundles.entry((*language).to_owned()) {
                std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
                std::collections::btree_map::Entry::Vacant(entry) => {
                    let id: LanguageIdentifier =
                        language.parse().map_err(|e| CatalogError::Language {
                            language: (*language).to_owned(),
                            error: format!("not a language tag: {e}"),
                        })?;
                    let mut bundle = FluentBundle::new_concurrent(vec![id]);
                    // Unicode isolation marks would end up inside HTML attributes and CSV cells.
                    bundle.set_use_isolating(false);
                    entry.insert(bundle)
                }
            };
            bundle
                .add_resource(resource)
                .map_err(|errors| CatalogError::Language {
                    language: (*language).to_owned(),
                    error: errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                })?;
        }
        if !bundles.contains_key(FALLBACK_LANGUAGE) {
            return Err(CatalogError::Language {
                language: FALLBACK_LANGUAGE.to_owned(),
                error: "is missing; every other language falls back to it".to_owned(),
            });
        }
        Ok(Self { bundles })
    }

    /// The languages there are catalogs for, with each one's own name, in code order.
    pub fn languages(&self) -> Vec<(String, String)> {
        self.bundles
            .keys()
            .map(|code| (code.clone(), self.messages(code).get("language-name")))
            .collect()
    }

    /// Whether there is a catalog for `language`.
    pub fn has(&self, language: &str) -> bool {
        self.bundles.contains_key(language)
    }

    /// The messages of `language` (English if there is no catalog for it).
    pub fn messages(&self, language: &str) -> Messages<'_> {
        let fallback = &self.bundles[FALLBACK_LANGUAGE];
        let (language, primary) = match self.bundles.get_key_value(language) {
            Some((code, bundle)) => (code.as_str(), bundle),
            None => (FALLBACK_LANGUAGE, fallback),
        };
        Messages {
            language,
            primary,
            fallback,
        }
    }
}

/// One language's messages, for one page.
pub struct Messages<'a> {
    language: &'a str,
    primary: &'a Bundle,
    fallback: &'a Bundle,
}

impl Messages<'_> {
    /// The language code, for `<html lang>`.
    pub fn language(&self) -> &str {
        self.language
    }

    /// Whether there is a message `id` (in this language or English).
    pub fn has(&self, id: &str) -> bool {
        self.primary.has_message(id) || self.fallback.has_message(id)
    }

    /// The message `id`.
    pub fn get(&self, id: &str) -> String {
        self.format(id, None)
    }

    /// The message `id` with its `{ $variables }`.
    pub fn with(&self, id: &str, args: &[(&str, &str)]) -> String {
        let mut fluent = FluentArgs::new();
        for (name, value) in args {
            fluent.set(*name, FluentValue::from(*value));
        }
        self.format(id, Some(&fluent))
    }

    /// The name of a code list's value, e.g. `PRIORITY_URGENT`, in this language.
    pub fn code(&self, name: &str) -> String {
        self.get(&format!("enum-{name}"))
    }

    fn format(&self, id: &str, args: Option<&FluentArgs<'_>>) -> String {
        for bundle in [self.primary, self.fallback] {
            if let Some(pattern) = bundle.get_message(id).and_then(|m| m.value()) {
                let mut errors = Vec::new();
                return bundle
                    .format_pattern(pattern, args, &mut errors)
                    .into_owned();
            }
        }
        // Tests hold every catalog to English's ids, so this shows only a new id not yet written.
        id.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use fluent_syntax::ast;

    use super::*;

    /// Each language's messages, with the variables each one uses.
    fn messages() -> BTreeMap<&'static str, BTreeMap<String, BTreeSet<String>>> {
        let mut found: BTreeMap<&str, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
        for (language, _, text) in EMBEDDED {
            let resource = fluent_syntax::parser::parse(*text).expect("parses");
            for entry in resource.body {
                if let ast::Entry::Message(message) = entry {
                    let mut variables = BTreeSet::new();
                    if let Some(pattern) = &message.value {
                        collect_variables(pattern, &mut variables);
                    }
                    found
                        .entry(language)
                        .or_default()
                        .insert(message.id.name.to_owned(), variables);
                }
            }
        }
        found
    }

    fn collect_variables(pattern: &ast::Pattern<&str>, into: &mut BTreeSet<String>) {
        for element in &pattern.elements {
            if let ast::PatternElement::Placeable { expression } = element {
                collect_expression(expression, into);
            }
        }
    }

    fn collect_expression(expression: &ast::Expression<&str>, into: &mut BTreeSet<String>) {
        match expression {
            ast::Expression::Inline(ast::InlineExpression::VariableReference { id }) => {
                into.insert(id.name.to_owned());
            }
            ast::Expression::Select { selector, variants } => {
                if let ast::InlineExpression::VariableReference { id } = selector {
                    into.insert(id.name.to_owned());
                }
                for variant in variants {
                    collect_variables(&variant.value, into);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn every_catalog_loads() {
        let catalogs = Catalogs::load().expect("catalogs load");
        let languages = catalogs.languages();
        let codes: Vec<&str> = languages.iter().map(|(code, _)| code.as_str()).collect();
        assert_eq!(language_codes(), codes);
        assert!(languages.contains(&("en".into(), "English".into())));
        assert!(languages.contains(&("ru".into(), "Русский".into())));
    }

    #[test]
    fn russian_and_english_have_the_same_messages_and_variables() {
        let found = messages();
        assert_eq!(found["ru"], found["en"]);
        // Other languages may be partial, but have no message English lacks.
        for (language, messages) in &found {
            for (id, variables) in messages {
                assert_eq!(
                    found["en"].get(id),
                    Some(variables),
                    "locales/{language}: {id} is not an English message with these variables"
                );
            }
        }
    }

    #[test]
    fn messages_fall_back_to_english_and_fill_their_variables() {
        let files = [
            (
                "en",
                "a.ftl",
                "hello = Hello, { $name }\nonly-en = English only\n",
            ),
            ("ru", "a.ftl", "hello = Здравствуйте, { $name }\n"),
        ];
        let catalogs = Catalogs::from_files(&files).expect("loads");
        let ru = catalogs.messages("ru");
        assert_eq!(
            ru.with("hello", &[("name", "Айгерим")]),
            "Здравствуйте, Айгерим"
        );
        assert_eq!(ru.get("only-en"), "English only");
        assert_eq!(catalogs.messages("kk").language(), "en");
        let broken = [("en", "b.ftl", "good = fine\n\nbad = { $\n")];
        let error = Catalogs::from_files(&broken)
            .err()
            .expect("refused")
            .to_string();
        assert!(error.starts_with("locales/en/b.ftl, line 3:"), "{error}");
    }
}
