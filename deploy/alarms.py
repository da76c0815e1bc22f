"""Alarms on the failure signals of each path, sent to one SNS topic (subscribe with
`make deploy-aws ALARM_EMAIL=you@example.com`, i.e. `-c alarm_email=...`):
- iterator age of every stream consumer (the mapping is falling behind or stuck on a poison batch);
- on-failure queue depth (a batch was discarded after its retries: data needs replaying);
- Firehose delivery to Redshift and to S3 (records are piling up in the errors prefix);
- Glue job runs that end FAILED, TIMEOUT or ERROR (EventBridge rule, alarmed on its trigger count).

The topic is encrypted with a customer-managed key (rotated yearly, $1/month) whose policy admits
cloudwatch.amazonaws.com: CloudWatch cannot publish to a topic under the AWS-managed alias/aws/sns
key, whose policy cannot be changed.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from constructs import Construct

from pipeline.resource_schema import Resources

ITERATOR_AGE_ALARM_MS = 5 * 60 * 1000
"""Records older than 5 minutes mean the consumer is not keeping up (or is retrying a poison batch)."""


class Alarms(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        resources: Resources,
        functions,
        queues,
        firehoses,
        glue_jobs,
        email: str | None,
    ):
        super().__init__(scope, id)
        # CloudWatch can publish only to a topic whose key admits it; alias/aws/sns never does.
        self.key = kms.Key(
            self,
            "TopicKey",
            description=f"{resources.project}: encrypts the alarm topic; CloudWatch may use it",
            enable_key_rotation=True,
            pending_window=Duration.days(7),
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublishToTheTopic",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" is this key
            )
        )
        self.topic = sns.Topic(
            self,
            "Topic",
            topic_name=f"{resources.project}-alarms",
            master_key=self.key,
            enforce_ssl=True,
        )
        if email:
            self.topic.add_subscription(subs.EmailSubscription(email))
        action = cw_actions.SnsAction(self.topic)
        self.alarms: list[cw.Alarm] = []

        def alarm(
            name,
            metric,
            threshold,
            op=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            periods=1,
            description="",
        ):
            a = cw.Alarm(
                self,
                name,
                alarm_name=f"{resources.project}-{name}",
                metric=metric,
                threshold=threshold,
                comparison_operator=op,
                evaluation_periods=periods,
                alarm_description=description,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            )
            a.add_alarm_action(action)
            self.alarms.append(a)

        for m in resources.event_source_mappings:
            alarm(
                f"{m.function}-iterator-age",
                functions[m.function].metric(
                    "IteratorAge", statistic="Maximum", period=Duration.minutes(1)
                ),
                ITERATOR_AGE_ALARM_MS,
                periods=5,
                description=f"{m.function} lags its stream by more than 5 minutes",
            )
            if m.on_failure_queue:
                alarm(
                    f"{m.on_failure_queue}-depth",
                    queues[m.on_failure_queue].metric_approximate_number_of_messages_visible(
                        period=Duration.minutes(5)
                    ),
                    1,
                    description=f"{m.function} discarded a batch; replay it from the queue's metadata",
                )
        for fh in resources.firehoses:
            for metric_name in ("DeliveryToRedshift.Success", "DeliveryToS3.Success"):
                alarm(
                    f"{fh.name}-{metric_name.split('.')[0]}",
                    cw.Metric(
                        namespace="AWS/Firehose",
                        metric_name=metric_name,
                        dimensions_map={"DeliveryStreamName": fh.name},
                        statistic="Minimum",
                        period=Duration.minutes(15),
                    ),
                    1,
                    op=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
                    description=f"{fh.name}: some deliveries failed in the last 15 minutes (see the errors prefix)",
                )
        for name in glue_jobs:
            rule = events.Rule(
                self,
                f"GlueFailed-{name}",
                rule_name=f"{name}-failed",
                event_pattern=events.EventPattern(
                    source=["aws.glue"],
                    detail_type=["Glue Job State Change"],
                    detail={"jobName": [name], "state": ["FAILED", "TIMEOUT", "ERROR"]},
                ),
            )
            alarm(
                f"{name}-failed",
                cw.Metric(
                    namespace="AWS/Events",
                    metric_name="TriggeredRules",
                    dimensions_map={"RuleName": rule.rule_name},
                    statistic="Sum",
                    period=Duration.minutes(5),
                ),
                1,
                description=f"Glue job {name} run failed or timed out",
            )
