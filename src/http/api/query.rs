//! Query-string parameters, checked as strictly as bodies: an unknown, repeated or malformed
//! parameter is a 400 naming it, so a typo never silently falls back to a default.

use std::collections::HashMap;

use rouille::Request;

use super::problem::Problem;

pub struct Query {
    values: HashMap<String, String>,
}

impl Query {
    /// The parameters of `request`; only names in `known` are accepted, each at most once.
    pub fn parse(request: &Request, known: &[&str]) -> Result<Self, Problem> {
        let mut values = HashMap::new();
        for (name, value) in form_urlencoded::parse(request.raw_query_string().as_bytes()) {
            if !known.contains(&name.as_ref()) {
                return Err(Problem::bad_parameter(&name, "is not a known parameter"));
            }
            if values
                .insert(name.to_string(), value.into_owned())
                .is_some()
            {
                return Err(Problem::bad_parameter(&name, "is given more than once"));
            }
        }
        Ok(Query { values })
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// An integer parameter within `min..=max`, or `default` when absent.
    pub fn number(
        &self,
        name: &str,
        min: usize,
        max: usize,
        default: usize,
    ) -> Result<usize, Problem> {
        match self.text(name) {
            None => Ok(default),
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| {
                    Problem::bad_parameter(
                        name,
                        &format!("must be a whole number from {min} to {max}"),
                    )
                }),
        }
    }

    /// A cursor: an opaque token the app sealed for this user and mailbox.
    pub fn cursor(
        &self,
        name: &str,
        decode: impl Fn(&str) -> Option<u64>,
    ) -> Result<Option<u64>, Problem> {
        let Some(text) = self.text(name) else {
            return Ok(None);
        };
        decode(text)
            .map(Some)
            .ok_or_else(|| Problem::bad_parameter(name, "is not a cursor this server gave out"))
    }
}
