//! Variables: create (names are unique), read by id or name, filter, count, update, delete.
//!
//! The server checks names and values before they reach the store; the store keeps names unique
//! with the table's UNIQUE constraint, so two concurrent creates of one name cannot both succeed.

use crate::db::{bind_all, on_pool, tags_column};
use crate::{Error, Result, Store};
use uuid::Uuid;
use weir_core::filters::Predicate;
use weir_core::variables::{
    Variable, VariableCreate, VariableFilter, VariableFilterBody, VariableUpdate,
};
use weir_core::Timestamp;

const NOT_FOUND: Error = Error::NotFound { kind: "Variable" };

fn taken(name: &str) -> Error {
    Error::Conflict(format!("A variable with the name {name:?} already exists."))
}

impl Store {
    /// Creates a variable; a name already in use is a conflict.
    pub async fn create_variable(&self, create: VariableCreate) -> Result<Variable> {
        let now = Timestamp::now();
        let variable = Variable {
            id: Uuid::new_v4(),
            created: now,
            updated: now,
            name: create.name,
            value: create.value,
            tags: create.tags,
        };
        let inserted = on_pool!(&self.db, pool => sqlx::query(
            "INSERT INTO variable (id, name, tags, created, updated, doc) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING")
            .bind(variable.id.to_string())
            .bind(&variable.name)
            .bind(tags_column(&variable.tags))
            .bind(now.to_canonical())
            .bind(now.to_canonical())
            .bind(serde_json::to_string(&variable)?)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        if inserted == 0 {
            return Err(taken(&variable.name));
        }
        Ok(variable)
    }

    /// The variable with this id.
    pub async fn read_variable(&self, id: Uuid) -> Result<Variable> {
        self.variable_where("id", &id.to_string()).await
    }

    /// The variable with this name.
    pub async fn read_variable_by_name(&self, name: &str) -> Result<Variable> {
        self.variable_where("name", name).await
    }

    async fn variable_where(&self, column: &str, key: &str) -> Result<Variable> {
        let sql = format!("SELECT doc FROM variable WHERE {column} = $1");
        let row: Option<(String,)> = on_pool!(read &self.db, pool =>
            sqlx::query_as(&sql).bind(key).fetch_optional(pool).await)?;
        let (doc,) = row.ok_or(NOT_FOUND)?;
        Ok(serde_json::from_str(&doc)?)
    }

    /// Variables matching a filter body, sorted and paged (`limit` and `offset` already checked).
    pub async fn filter_variables(
        &self,
        body: &VariableFilterBody,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Variable>> {
        let predicate = body
            .variables
            .as_ref()
            .map_or(Predicate::True, VariableFilter::predicate);
        let mut sql = self.db.builder();
        sql.push("SELECT doc FROM variable WHERE ")
            .predicate(&predicate)
            .push(" ORDER BY ")
            .push(body.sort.order_by());
        sql.page(Some(limit), Some(offset));
        let rows: Vec<(String,)> = on_pool!(read &self.db, pool =>
            bind_all!(sqlx::query_as(&sql.sql), sql.args).fetch_all(pool).await)?;
        rows.into_iter()
            .map(|(doc,)| Ok(serde_json::from_str(&doc)?))
            .collect()
    }

    /// How many variables match a filter.
    pub async fn count_variables(&self, filter: Option<&VariableFilter>) -> Result<i64> {
        let predicate = filter.map_or(Predicate::True, VariableFilter::predicate);
        self.count("variable", predicate).await
    }

    /// Applies an update to the variable with this id.
    pub async fn update_variable(&self, id: Uuid, update: VariableUpdate) -> Result<()> {
        let variable = self.read_variable(id).await?;
        self.write_variable(variable, update).await
    }

    /// Applies an update to the variable with this name.
    pub async fn update_variable_by_name(&self, name: &str, update: VariableUpdate) -> Result<()> {
        let variable = self.read_variable_by_name(name).await?;
        self.write_variable(variable, update).await
    }

    async fn write_variable(&self, mut variable: Variable, update: VariableUpdate) -> Result<()> {
        if let Some(name) = update.name {
            variable.name = name;
        }
        if let Some(value) = update.value {
            variable.value = value;
        }
        if let Some(tags) = update.tags {
            variable.tags = tags;
        }
        variable.updated = Timestamp::now();
        let changed = on_pool!(&self.db, pool => sqlx::query(
            "UPDATE variable SET name = $1, tags = $2, updated = $3, doc = $4 WHERE id = $5")
            .bind(&variable.name)
            .bind(tags_column(&variable.tags))
            .bind(variable.updated.to_canonical())
            .bind(serde_json::to_string(&variable)?)
            .bind(variable.id.to_string())
            .execute(pool).await.map(|r| r.rows_affected()))
        .map_err(|e| match Error::from(e) {
            Error::Conflict(_) => taken(&variable.name),
            other => other,
        })?;
        if changed == 0 {
            // Deleted between the read and the write.
            return Err(NOT_FOUND);
        }
        Ok(())
    }

    /// Deletes the variable with this id.
    pub async fn delete_variable(&self, id: Uuid) -> Result<()> {
        self.delete_variable_where("id", &id.to_string()).await
    }

    /// Deletes the variable with this name.
    pub async fn delete_variable_by_name(&self, name: &str) -> Result<()> {
        self.delete_variable_where("name", name).await
    }

    async fn delete_variable_where(&self, column: &str, key: &str) -> Result<()> {
        let sql = format!("DELETE FROM variable WHERE {column} = $1");
        let deleted = on_pool!(&self.db, pool =>
            sqlx::query(&sql).bind(key).execute(pool).await.map(|r| r.rows_affected()))?;
        if deleted == 0 {
            return Err(NOT_FOUND);
        }
        Ok(())
    }
}
