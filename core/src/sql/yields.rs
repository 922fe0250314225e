//! Every operator of a query yields now and then. DataFusion makes its scans cooperative (they
//! spend tokio's task budget), but an operator that keeps asking an in-memory input for rows it
//! then drops (a filter over a cross join that keeps nothing) would loop inside one poll for as
//! long as the join runs: its task could not be cancelled, nor its deadline fire. With each
//! operator's output cooperative too, every such loop returns to the runtime within one budget
//! (128 batches), where a cancellation (the client gone, the deadline, a shutdown) takes effect.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::Result as DfResult;
use datafusion::config::ConfigOptions;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::execution_plan::SchedulingType;
use datafusion::physical_plan::ExecutionPlan;

/// The physical optimizer rule, run last.
#[derive(Debug, Default)]
pub struct EveryOperatorYields;

impl PhysicalOptimizerRule for EveryOperatorYields {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _: &ConfigOptions,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            // `CooperativeExec` itself is cooperative.
            if node.properties().scheduling_type == SchedulingType::Cooperative {
                return Ok(Transformed::no(node));
            }
            Ok(Transformed::yes(
                Arc::new(CooperativeExec::new(node)) as Arc<dyn ExecutionPlan>
            ))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "strata_every_operator_yields"
    }

    fn schema_check(&self) -> bool {
        true
    }
}
