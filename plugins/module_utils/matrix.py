# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The seed's Environment Comparison Matrix, with a monthly cost estimate from a price table.

Pure functions: the inputs are the environments' settings and the price table
(playbooks/vars/aws_prices.yml); nothing here calls AWS.
"""

from __future__ import annotations

from typing import Any

MONITORING_LABELS = {False: "Basic", True: "Enhanced"}
AUTO_SCALING_LABELS = {"none": "No", "limited": "Limited", "full": "Full"}
ROUTE_OUT_LABELS = {
    "nat_gateway": "NAT gateway (1)",
    "nat_gateway_per_az": "NAT gateway per zone",
    "endpoints": "VPC endpoints",
}
ROWS = (
    "Instances",
    "Route out",
    "Database",
    "Monitoring",
    "Backups",
    "SSL/HTTPS",
    "Auto-scaling",
    "Cost/Month (estimate)",
    "Cost/Month (seed)",
)


class PriceError(KeyError):
    """A setting names something the price table has no price for."""


def _price(table: dict[str, float], key: str, what: str) -> float:
    if key not in table:
        raise PriceError(f"the price table has no {what} price for '{key}'; known: {', '.join(sorted(table))}")
    return float(table[key])


def database_instances(database: dict[str, Any]) -> int:
    """Instances of an instance-based database: one, or a primary and its replicas; PostgreSQL's multi-AZ standby
    counts as one more."""
    count = 1 + int(database.get("replicas", 1)) if database["topology"] == "replica" else 1
    if database.get("engine", "postgres") == "postgres" and database.get("multi_az"):
        count += 1
    return count


def database_label(database: dict[str, Any]) -> str:
    """What runs: the engine, the seed's topology, the capacity ("MongoDB (replica) - DocumentDB 2x db.t3.medium")."""
    topology = database["topology"]
    if database.get("engine", "postgres") == "postgres":
        return f"PostgreSQL ({topology}) - RDS {database_instances(database)}x {database['instance_class']}"
    if topology == "sharded":
        return (
            f"MongoDB (sharded) - DocumentDB elastic, {database.get('shards', 2)} shards x "
            f"{database.get('shard_capacity', 2)} vCPU x {database.get('shard_instances', 2)}"
        )
    return f"MongoDB ({topology}) - DocumentDB {database_instances(database)}x {database['instance_class']}"


def database_cost(database: dict[str, Any], prices: dict[str, Any]) -> tuple[float, float]:
    """(compute, storage and I/O) a month: RDS instances and allocated storage; DocumentDB instances, or an elastic
    cluster's shard vCPUs, with the storage used (allocated_storage as the estimate) and its I/O."""
    hours = float(prices["hours_per_month"])
    storage = int(database["allocated_storage"])
    if database.get("engine", "postgres") == "postgres":
        hourly = _price(prices["database_hourly"], database["instance_class"], "RDS")
        return database_instances(database) * hourly * hours, storage * float(prices["database_storage_gb_month"])
    docdb = prices["docdb"]
    used = storage * float(docdb["storage_gb_month"]) + float(docdb["io_millions_month"]) * float(docdb["io_million"])
    if database["topology"] == "sharded":
        vcpus = (
            int(database.get("shards", 2))
            * int(database.get("shard_capacity", 2))
            * int(database.get("shard_instances", 2))
        )
        return vcpus * float(docdb["elastic_shard_vcpu_hourly"]) * hours, used
    hourly = _price(docdb["instance_hourly"], database["instance_class"], "DocumentDB")
    return database_instances(database) * hourly * hours, used


def route_out_cost(settings: dict[str, Any], prices: dict[str, Any]) -> float:
    """The private subnets' route out (network_egress): NAT gateways, or interface endpoints in every zone."""
    hours, zones = float(prices["hours_per_month"]), len(settings["availability_zones"])
    gigabytes = float(prices["route_out_gb_month"])
    egress = settings["network_egress"]
    if egress == "endpoints":
        endpoints = int(prices["interface_endpoints"])
        return endpoints * zones * float(prices["interface_endpoint_hourly"]) * hours + gigabytes * float(
            prices["interface_endpoint_gb"]
        )
    gateways = zones if egress == "nat_gateway_per_az" else 1
    hourly = float(prices["nat_gateway_hourly"]) + float(prices["public_ipv4_hourly"])  # each with its Elastic IP
    return gateways * hourly * hours + gigabytes * float(prices["nat_gateway_gb"])


def monthly_cost(settings: dict[str, Any], prices: dict[str, Any]) -> dict[str, float]:
    """Cost per month of one environment, by item, in USD."""
    hours = float(prices["hours_per_month"])
    config, database = settings["env_config"], settings["database"]
    instances = int(config["desired_capacity"])
    database_compute, database_storage = database_cost(database, prices)
    monitored = bool(settings.get("monitoring_enabled"))
    items = {
        "ec2": instances * _price(prices["ec2_hourly"], config["instance_type"], "EC2") * hours,
        "ebs": instances * float(prices["ecs_root_volume_gb"]) * float(prices["ebs_gp3_gb_month"]),
        "database": database_compute,
        "database_storage": database_storage,
        "route_out": route_out_cost(settings, prices),
        "alb": (float(prices["alb_hourly"]) + float(prices["alb_lcu_hourly"]) * float(prices["alb_lcus"])) * hours,
        "cloudwatch": (
            (float(prices["dashboard_month"]) + float(prices["alarm_month"]) * int(prices["alarms_per_environment"]))
            if monitored
            else 0.0
        ),
        "detailed_monitoring": (
            instances * float(prices["detailed_monitoring_instance_month"]) if config.get("enable_monitoring") else 0.0
        ),
    }
    return {key: round(value, 2) for key, value in items.items()}


def matrix(environments: dict[str, dict[str, Any]], order: list[str], prices: dict[str, Any]) -> dict[str, Any]:
    """Rows of the comparison matrix per environment, costs and totals, as JSON-ready data."""
    names = [env for env in order if env in environments] + sorted(set(environments) - set(order))
    columns = []
    for env in names:
        settings = environments[env]
        config, database = settings["env_config"], settings["database"]
        costs = monthly_cost(settings, prices)
        total = round(sum(costs.values()), 2)
        seed = prices.get("seed_monthly", {}).get(env)
        columns.append(
            {
                "environment": env,
                "Instances": f"{config['desired_capacity']}x {config['instance_type']}",
                "Route out": ROUTE_OUT_LABELS[settings["network_egress"]],
                "Database": database_label(database),
                "Monitoring": MONITORING_LABELS[bool(settings.get("monitoring_enabled"))],
                "Backups": f"{settings['backup_retention_days']} days"
                if settings.get("backup_enabled")
                else f"{config['backup_retention']} days (snapshots only)",
                "SSL/HTTPS": "Yes" if settings.get("ssl_enabled") else "No",
                "Auto-scaling": AUTO_SCALING_LABELS[settings["auto_scaling"]],
                "Cost/Month (estimate)": f"${total:,.2f}",
                "Cost/Month (seed)": f"${seed:,}" if seed is not None else "-",
                "cost_items": costs,
                "cost_total": total,
                "seed_cost": seed,
            }
        )
    total = round(sum(c["cost_total"] for c in columns), 2)
    seed_total = sum(c["seed_cost"] for c in columns if c["seed_cost"] is not None)
    return {
        "environments": names,
        "columns": columns,
        "total": total,
        "seed_total": seed_total,
        "prices": {"as_of": prices.get("as_of"), "region": prices.get("region"), "sources": prices.get("sources", [])},
        "assumptions": prices.get("assumptions", []),
        "seed_comparison_notes": prices.get("seed_comparison_notes", []),
    }


def to_markdown(data: dict[str, Any]) -> str:
    columns = data["columns"]
    header = ["Feature"] + [c["environment"] for c in columns]
    lines = [
        "| " + " | ".join(f"**{h}**" if i == 0 else h for i, h in enumerate(header)) + " |",
        "|" + "---|" * len(header),
    ]
    for row in ROWS:
        lines.append(f"| **{row}** | " + " | ".join(str(c[row]) for c in columns) + " |")
    lines.append("")
    lines.append(f"**Total: ${data['total']:,.2f}/month estimated** (the seed said ${data['seed_total']:,}/month).")
    lines.append("")
    lines.append("Why the estimate differs from the seed:")
    lines.append("")
    for column in columns:
        if column["seed_cost"] is None:
            continue
        difference = column["cost_total"] - column["seed_cost"]
        largest = sorted(column["cost_items"].items(), key=lambda item: -item[1])[:2]
        lines.append(
            f"- {column['environment']}: ${column['cost_total']:,.2f} against ${column['seed_cost']:,} "
            f"({difference:+,.2f}); largest items: " + ", ".join(f"{k} ${v:,.2f}" for k, v in largest) + "."
        )
    for note in data.get("seed_comparison_notes", []):
        lines.append(f"- {note}")
    lines.append("")
    lines.append("Cost items per environment (USD/month):")
    lines.append("")
    items = list(columns[0]["cost_items"]) if columns else []
    lines.append("| Item | " + " | ".join(c["environment"] for c in columns) + " |")
    lines.append("|" + "---|" * (len(columns) + 1))
    for item in items:
        lines.append(f"| {item} | " + " | ".join(f"{c['cost_items'][item]:,.2f}" for c in columns) + " |")
    lines.append("")
    prices = data["prices"]
    lines.append(f"Prices: {prices['region']}, on-demand, as of {prices['as_of']}.")
    for source in prices["sources"]:
        lines.append(f"- {source}")
    lines.append("")
    lines.append("Assumptions:")
    for assumption in data["assumptions"]:
        lines.append(f"- {assumption}")
    return "\n".join(lines) + "\n"
