//! A fuzzy-filtered list: the canned-reply picker, the macro menu and the mention list.
//! Matching is `nucleo-matcher`'s (the matcher of the Helix editor), case-insensitive.

use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher};

/// What a picker offers: a name to match and show, a detail line (a body's start, an email).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickItem<T> {
    pub name: String,
    pub detail: String,
    pub value: T,
}

/// A list filtered by a query, with a selected row.
#[derive(Debug, Clone)]
pub struct Picker<T> {
    items: Vec<PickItem<T>>,
    query: String,
    /// Indexes into `items`, best match first.
    shown: Vec<usize>,
    selected: usize,
    matcher: Matcher,
}

impl<T> Picker<T> {
    pub fn new(items: Vec<PickItem<T>>) -> Picker<T> {
        let mut picker = Picker { items, query: String::new(), shown: Vec::new(), selected: 0, matcher: Matcher::new(Config::DEFAULT) };
        picker.refilter();
        picker
    }

    pub fn query(&self) -> &str {
        &self.query
    }

    pub fn set_query(&mut self, query: &str) {
        if self.query != query {
            query.clone_into(&mut self.query);
            self.refilter();
        }
    }

    pub fn push_char(&mut self, c: char) {
        self.query.push(c);
        self.refilter();
    }

    pub fn pop_char(&mut self) {
        self.query.pop();
        self.refilter();
    }

    /// Replaces the items (they arrived from the server), keeping the query.
    pub fn set_items(&mut self, items: Vec<PickItem<T>>) {
        self.items = items;
        self.refilter();
    }

    pub fn up(&mut self) {
        self.selected = self.selected.saturating_sub(1);
    }

    pub fn down(&mut self) {
        if self.selected + 1 < self.shown.len() {
            self.selected += 1;
        }
    }

    /// The matching items, best first, with whether each is the selected one.
    pub fn visible(&self) -> impl Iterator<Item = (&PickItem<T>, bool)> {
        self.shown.iter().enumerate().map(|(row, &index)| (&self.items[index], row == self.selected))
    }

    pub fn selected_index(&self) -> usize {
        self.selected
    }

    pub fn match_count(&self) -> usize {
        self.shown.len()
    }

    pub fn selected(&self) -> Option<&PickItem<T>> {
        self.shown.get(self.selected).map(|&index| &self.items[index])
    }

    fn refilter(&mut self) {
        let pattern = Pattern::parse(&self.query, CaseMatching::Ignore, Normalization::Smart);
        let names = self.items.iter().enumerate().map(|(index, item)| Indexed(index, &item.name));
        self.shown = pattern.match_list(names, &mut self.matcher).into_iter().map(|(Indexed(index, _), _)| index).collect();
        self.selected = 0;
    }
}

/// An item's name with its place, so matches map back to items.
struct Indexed<'a>(usize, &'a str);

impl AsRef<str> for Indexed<'_> {
    fn as_ref(&self) -> &str {
        self.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(name: &str) -> PickItem<()> {
        PickItem { name: name.to_owned(), detail: String::new(), value: () }
    }

    #[test]
    fn filters_fuzzily_best_first_and_keeps_all_for_an_empty_query() {
        let mut picker = Picker::new(vec![item("Refund policy"), item("Password reset"), item("Thanks for waiting")]);
        assert_eq!(picker.match_count(), 3);
        picker.set_query("pwrst");
        let names: Vec<&str> = picker.visible().map(|(item, _)| item.name.as_str()).collect();
        assert_eq!(names, vec!["Password reset"]);
        picker.set_query("RE");
        assert!(picker.match_count() >= 2);
        picker.set_query("zzz");
        assert!(picker.selected().is_none());
    }

    #[test]
    fn selection_stays_within_the_matches() {
        let mut picker = Picker::new(vec![item("a"), item("b")]);
        picker.up();
        assert_eq!(picker.selected_index(), 0);
        picker.down();
        picker.down();
        assert_eq!(picker.selected().unwrap().name, "b");
    }
}
