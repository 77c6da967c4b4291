//! Temporary PostgreSQL databases: one randomly named database per run, created from the
//! server URL the operator gives and dropped (`WITH (FORCE)`) at the end, even after an error.

use sqlx::{Connection, PgConnection};

/// A database created for this run.
#[derive(Debug, Clone)]
pub struct TempDb {
    admin_url: String,
    pub name: String,
    /// The admin URL with the database name replaced.
    pub url: String,
}

impl TempDb {
    /// Creates `sesame_bench_<random>` on the server `admin_url` points at.
    ///
    /// # Errors
    /// When the server cannot be reached or refuses to create the database.
    pub async fn create(admin_url: &str, run_id: &str) -> Result<Self, String> {
        let name = format!("sesame_bench_{run_id}");
        let mut conn = PgConnection::connect(admin_url)
            .await
            .map_err(|e| format!("cannot connect to --postgres-url: {e}"))?;
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .map_err(|e| format!("cannot create database {name}: {e}"))?;
        let _ = conn.close().await;
        Ok(Self {
            admin_url: admin_url.to_owned(),
            url: with_database(admin_url, &name),
            name,
        })
    }

    /// Drops the database, disconnecting whoever is still connected.
    ///
    /// # Errors
    /// When the server cannot be reached or refuses.
    pub async fn drop_db(&self) -> Result<(), String> {
        let mut conn = PgConnection::connect(&self.admin_url)
            .await
            .map_err(|e| e.to_string())?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        ))
        .execute(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
        let _ = conn.close().await;
        Ok(())
    }
}

/// `postgres://u@h:5432/postgres?sslmode=x` with the path replaced by `/name`, query kept.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[after_scheme..]
        .find('/')
        .map_or(base.len(), |i| after_scheme + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_name_is_replaced_and_the_query_kept() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgresql://u:p@h/db?sslmode=disable", "x"),
            "postgresql://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@h:5432", "x"),
            "postgres://u@h:5432/x"
        );
    }
}
