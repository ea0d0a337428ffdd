//! Weir's own OpenAPI document, generated from the handlers' annotations, served at
//! `/api/openapi.json` (with the Bearer API key and Basic auth string as security schemes), with
//! interactive docs (Swagger UI, bundled in the binary) at `/docs`.

use crate::routes::{
    admin, api_keys, block_documents, blocks, concurrency_leases, concurrency_limits, deployments,
    events, flow_runs, flows, logs, tag_limits, task_runs, variables, work_pools,
};
use crate::AppState;
use axum::Router;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

#[derive(OpenApi)]
#[openapi(
    modifiers(&SecuritySchemes),
    info(
        title = "Weir REST API",
        description = "Prefect 3 compatible orchestration API served by Weir."
    ),
    paths(
        admin::health,
        admin::ready,
        admin::api_version,
        admin::server_version,
        admin::storage,
        admin::settings,
        admin::csrf_token,
        admin::hello,
        flows::create_flow,
        flows::read_flow,
        flows::read_flow_by_name,
        flows::filter_flows,
        flows::count_flows,
        flows::paginate_flows,
        flows::update_flow,
        flows::delete_flow,
        flow_runs::create_flow_run,
        flow_runs::read_flow_run,
        flow_runs::update_flow_run,
        flow_runs::patch_labels,
        flow_runs::delete_flow_run,
        flow_runs::filter_flow_runs,
        flow_runs::count_flow_runs,
        flow_runs::paginate_flow_runs,
        flow_runs::set_flow_run_state,
        flow_runs::list_flow_run_states,
        flow_runs::read_flow_run_state,
        task_runs::create_task_run,
        task_runs::read_task_run,
        task_runs::filter_task_runs,
        task_runs::count_task_runs,
        task_runs::set_task_run_state,
        task_runs::list_task_run_states,
        task_runs::read_task_run_state,
        logs::create_logs,
        logs::filter_logs,
        events::create_events,
        events::filter_events,
        work_pools::create_work_pool,
        work_pools::read_work_pool,
        work_pools::update_work_pool,
        work_pools::delete_work_pool,
        work_pools::filter_work_pools,
        work_pools::count_work_pools,
        work_pools::create_work_queue,
        work_pools::filter_work_queues,
        work_pools::read_pool_queue,
        work_pools::update_pool_queue,
        work_pools::delete_pool_queue,
        work_pools::read_work_queue,
        work_pools::update_work_queue,
        work_pools::heartbeat,
        work_pools::filter_workers,
        work_pools::delete_worker,
        work_pools::get_scheduled_flow_runs,
        deployments::create_deployment,
        deployments::read_deployment,
        deployments::read_deployment_by_name,
        deployments::filter_deployments,
        deployments::paginate_deployments,
        deployments::count_deployments,
        deployments::update_deployment,
        deployments::delete_deployment,
        deployments::create_flow_run,
        deployments::read_schedules,
        deployments::create_schedules,
        deployments::update_schedule,
        deployments::delete_schedule,
        deployments::pause,
        deployments::resume,
        deployments::delete_owned_automations,
        deployments::worker_metadata,
        variables::create_variable,
        variables::read_variable,
        variables::read_variable_by_name,
        variables::filter_variables,
        variables::count_variables,
        variables::update_variable,
        variables::update_variable_by_name,
        variables::delete_variable,
        variables::delete_variable_by_name,
        concurrency_limits::create_limit,
        concurrency_limits::read_limit,
        concurrency_limits::filter_limits,
        concurrency_limits::update_limit,
        concurrency_limits::delete_limit,
        concurrency_limits::increment_slots,
        concurrency_limits::decrement_slots,
        concurrency_leases::increment_with_lease,
        concurrency_leases::decrement_with_lease,
        concurrency_leases::renew_lease,
        tag_limits::upsert_tag_limit,
        tag_limits::read_tag_limit_by_id,
        tag_limits::read_tag_limit,
        tag_limits::filter_tag_limits,
        tag_limits::delete_tag_limit,
        tag_limits::delete_tag_limit_by_id,
        tag_limits::reset_tag_limit,
        tag_limits::increment_tag_slots,
        tag_limits::decrement_tag_slots,
        blocks::create_block_type,
        blocks::read_block_type,
        blocks::read_block_type_by_slug,
        blocks::filter_block_types,
        blocks::update_block_type,
        blocks::delete_block_type,
        blocks::read_block_documents_of_type,
        blocks::read_block_document_by_name,
        blocks::create_block_schema,
        blocks::read_block_schema,
        blocks::read_block_schema_by_checksum,
        blocks::filter_block_schemas,
        blocks::delete_block_schema,
        blocks::read_block_capabilities,
        block_documents::create_block_document,
        block_documents::read_block_document,
        block_documents::filter_block_documents,
        block_documents::count_block_documents,
        block_documents::update_block_document,
        block_documents::delete_block_document,
        api_keys::create_api_key,
        api_keys::filter_api_keys,
        api_keys::read_api_key,
        api_keys::revoke_api_key,
    )
)]
pub(crate) struct ApiDoc;

/// Declares the credentials the server accepts (`auth`): an API key as `Authorization: Bearer`,
/// or the auth string (or a key) as HTTP Basic. They are required only when the server is
/// configured to require auth.
struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            Http, HttpAuthScheme, SecurityRequirement, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            "auth_string",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
        openapi.security = Some(vec![
            SecurityRequirement::new("api_key", Vec::<String>::new()),
            SecurityRequirement::new("auth_string", Vec::<String>::new()),
        ]);
    }
}

/// The OpenAPI document of this server.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// `/api/openapi.json` and the Swagger UI at `/docs`.
pub(crate) fn docs() -> Router<AppState> {
    Router::new().merge(SwaggerUi::new("/docs").url("/api/openapi.json", document()))
}
