//! Flows: upsert by name, read, filter, count, update, delete (with their runs).

use crate::db::{bind_all, on_pool, tags_column};
use crate::{Error, Result, Store};
use uuid::Uuid;
use weir_core::filters::{RunFilterBody, Sort, Target};
use weir_core::schemas::{Flow, FlowCreate, FlowUpdate, JsonObject};
use weir_core::Timestamp;

impl Store {
    /// Creates the flow, or returns the existing flow of that name. The flag tells which happened.
    pub async fn upsert_flow(&self, create: FlowCreate) -> Result<(Flow, bool)> {
        if let Some(flow) = self.read_flow_by_name(&create.name).await? {
            return Ok((flow, false));
        }
        let now = Timestamp::now();
        let flow = Flow {
            id: Uuid::new_v4(),
            created: now,
            updated: now,
            name: create.name,
            tags: create.tags,
            labels: create.labels.unwrap_or_default(),
        };
        let inserted = on_pool!(&self.db, pool => sqlx::query(
            "INSERT INTO flow (id, name, tags, created, updated, doc) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (name) DO NOTHING")
            .bind(flow.id.to_string())
            .bind(&flow.name)
            .bind(tags_column(&flow.tags))
            .bind(now.to_canonical())
            .bind(now.to_canonical())
            .bind(serde_json::to_string(&flow)?)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        if inserted == 0 {
            // Another request created it between our read and our insert.
            let flow = self.read_flow_by_name(&flow.name).await?;
            return flow
                .map(|f| (f, false))
                .ok_or(Error::NotFound { kind: "Flow" });
        }
        Ok((flow, true))
    }

    /// The flow with this id.
    pub async fn read_flow(&self, id: Uuid) -> Result<Flow> {
        let row: Option<(String,)> = on_pool!(read &self.db, pool => sqlx::query_as(
            "SELECT doc FROM flow WHERE id = $1")
            .bind(id.to_string()).fetch_optional(pool).await)?;
        let (doc,) = row.ok_or(Error::NotFound { kind: "Flow" })?;
        Ok(serde_json::from_str(&doc)?)
    }

    /// The name of the flow with this id (cached: names never change).
    pub async fn flow_name(&self, id: Uuid) -> Result<String> {
        if let Some(name) = self
            .flow_names
            .read()
            .ok()
            .and_then(|names| names.get(&id).cloned())
        {
            return Ok(name);
        }
        let flow = self.read_flow(id).await?;
        if let Ok(mut names) = self.flow_names.write() {
            names.insert(id, flow.name.clone());
        }
        Ok(flow.name)
    }

    /// The flow with this name, if any.
    pub async fn read_flow_by_name(&self, name: &str) -> Result<Option<Flow>> {
        let row: Option<(String,)> = on_pool!(read &self.db, pool => sqlx::query_as(
            "SELECT doc FROM flow WHERE name = $1")
            .bind(name).fetch_optional(pool).await)?;
        row.map(|(doc,)| serde_json::from_str(&doc).map_err(Error::from))
            .transpose()
    }

    /// Flows matching a filter body, sorted and paged.
    pub async fn filter_flows(&self, body: &RunFilterBody) -> Result<Vec<Flow>> {
        let mut sql = self.db.builder();
        sql.push("SELECT doc FROM flow WHERE ")
            .predicate(&body.predicate_for(Target::Flow));
        let sort = body.sort.unwrap_or(Sort::NameAsc);
        sql.push(" ORDER BY ").push(sort.order_by());
        sql.page(body.limit, body.offset);
        let rows: Vec<(String,)> = on_pool!(read &self.db, pool =>
            bind_all!(sqlx::query_as(&sql.sql), sql.args).fetch_all(pool).await)?;
        rows.into_iter()
            .map(|(doc,)| Ok(serde_json::from_str(&doc)?))
            .collect()
    }

    /// How many flows match a filter body.
    pub async fn count_flows(&self, body: &RunFilterBody) -> Result<i64> {
        self.count("flow", body.predicate_for(Target::Flow)).await
    }

    /// Changes a flow's tags and labels.
    pub async fn update_flow(&self, id: Uuid, update: FlowUpdate) -> Result<()> {
        let mut flow = self.read_flow(id).await?;
        if let Some(tags) = update.tags {
            flow.tags = tags;
        }
        if let Some(labels) = update.labels {
            flow.labels = labels;
        }
        flow.updated = Timestamp::now();
        on_pool!(&self.db, pool => sqlx::query(
            "UPDATE flow SET tags = $1, updated = $2, doc = $3 WHERE id = $4")
            .bind(tags_column(&flow.tags))
            .bind(flow.updated.to_canonical())
            .bind(serde_json::to_string(&flow)?)
            .bind(id.to_string())
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Deletes a flow together with its flow runs, their task runs and states.
    pub async fn delete_flow(&self, id: Uuid) -> Result<()> {
        let key = id.to_string();
        let deleted = on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let runs = "SELECT id FROM flow_run WHERE flow_id = $1";
            let tasks = format!("SELECT id FROM task_run WHERE flow_run_id IN ({runs})");
            for statement in [
                format!("DELETE FROM task_run_state WHERE task_run_id IN ({tasks})"),
                format!("DELETE FROM task_run WHERE flow_run_id IN ({runs})"),
                format!("DELETE FROM flow_run_state WHERE flow_run_id IN ({runs})"),
                "DELETE FROM flow_run WHERE flow_id = $1".to_owned(),
            ] {
                sqlx::query(&statement).bind(&key).execute(&mut *tx).await?;
            }
            let done = sqlx::query("DELETE FROM flow WHERE id = $1").bind(&key).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(done.rows_affected())
        })?;
        if let Ok(mut names) = self.flow_names.write() {
            names.remove(&id);
        }
        if deleted == 0 {
            return Err(Error::NotFound { kind: "Flow" });
        }
        Ok(())
    }

    /// Counts rows of `table` matching `predicate`.
    pub(crate) async fn count(
        &self,
        table: &str,
        predicate: weir_core::filters::Predicate,
    ) -> Result<i64> {
        let mut sql = self.db.builder();
        sql.push("SELECT COUNT(*) FROM ")
            .push(table)
            .push(" WHERE ")
            .predicate(&predicate);
        let (count,): (i64,) = on_pool!(read &self.db, pool =>
            bind_all!(sqlx::query_as(&sql.sql), sql.args).fetch_one(pool).await)?;
        Ok(count)
    }
}

/// Labels every flow run carries: Prefect adds `prefect.flow.id`.
pub(crate) fn flow_run_labels(flow_id: Uuid, given: Option<JsonObject>) -> JsonObject {
    let mut labels = given.unwrap_or_default();
    labels.insert("prefect.flow.id".into(), flow_id.to_string().into());
    labels
}
