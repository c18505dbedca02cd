"""rows: part of the AWS demo generator (see demo.aws.model)."""

from __future__ import annotations

import random
import uuid
from base64 import b32encode
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from demo.aws.model import (
    _CATALOG,
    _CENT,
    _COLUMNS,
    _ENVS,
    _NAMESPACE,
    _REGIONS,
    _TEAMS,
    _ZERO,
    SPLIT_OPERATIONS,
    AccountTotals,
    LinkedAccount,
    PayerSpec,
    Row,
    _accounts,
    _digest,
    _fmt,
    _hex,
    _Item,
    _parse_period,
    _Period,
    _q,
)


class _MonthBuilder:
    """Builds the rows of one payer month, in the order AWS would list them."""

    def __init__(self, spec: PayerSpec, period: _Period, revision: int) -> None:
        self.spec = spec
        self.period = period
        self.revision = revision
        self.rng = random.Random(f"rows|{spec.name}|{spec.seed}|{period.label}")
        self.accounts = _accounts(spec)
        self.rows: list[Row] = []
        eur = spec.currency == "EUR"
        self.legal_entity = "Amazon Web Services EMEA SARL" if eur else "Amazon Web Services, Inc."
        # A month gets its invoice id when the invoice closes; AWS rewrites it then, so the
        # first delivery has none and later revisions carry one.
        self.invoice_id = (
            "" if revision == 0 else str(10**9 + int(_hex(8, spec.seed, period.label), 16) % 10**9)
        )
        self.regions = {
            a.account_id: _REGIONS[_digest(spec.seed, a.account_id)[0] % len(_REGIONS)] for a in self.accounts
        }
        n = len(self.accounts)
        payer = self.accounts[0]
        self.ri_account = self.accounts[1 % n]
        self.sp_account = self.accounts[2 % n]
        self.split_account = self.accounts[-1]
        self.ri_arn = (
            f"arn:aws:ec2:{self.regions[payer.account_id].code}:{payer.account_id}:"
            f"reserved-instances/{uuid.uuid5(_NAMESPACE, f'ri|{spec.name}|{spec.seed}')}"
        )
        self.sp_arn = (
            f"arn:aws:savingsplans::{payer.account_id}:savingsplan/"
            f"{uuid.uuid5(_NAMESPACE, f'sp|{spec.name}|{spec.seed}')}"
        )

    # ---- row skeleton -------------------------------------------------------------------

    def _marketplace_line(self, account: LinkedAccount, line_type: str, tag: str, start: datetime, end: datetime,
                          amount: Decimal, usage_type: str, description: str) -> Row:
        """A line of Marketplace software: billed by "AWS Marketplace", the seller as legal entity."""
        row = self._row(account, line_type, tag, start, end, product_code="8xk2lrw4u9ysbr0wq3tz5hnl0",
                        unblended=amount, billing_entity="AWS Marketplace")
        row.update(
            line_item_usage_type=usage_type,
            line_item_operation="Subscribe",
            line_item_usage_amount=Decimal(1),
            line_item_unblended_rate=amount,
            line_item_blended_rate=amount,
            line_item_line_item_description=description,
            line_item_legal_entity="Acme Software, Inc.",
            product_sku="8xk2lrw4u9ysbr0wq3tz5hnl0",
            pricing_term="OnDemand",
            pricing_unit="Units",
            pricing_public_on_demand_cost=amount,
            pricing_public_on_demand_rate=amount,
        )
        row["product"] = {"product_name": "Acme Observability Platform"}
        return row

    def _row(
        self,
        account: LinkedAccount,
        line_item_type: str,
        key: str,
        start: datetime,
        end: datetime,
        *,
        product_code: str,
        unblended: Decimal,
        blended: Decimal | None = None,
        billing_entity: str = "AWS",
    ) -> Row:
        spec = self.spec
        row: Row = {c.source: None for c in _COLUMNS if "." not in c.source}
        row.update(
            identity_line_item_id=b32encode(
                _digest(spec.name, spec.seed, self.period.label, account.account_id, key)
            )
            .decode()
            .lower()
            .rstrip("=")[:52],
            identity_time_interval=f"{start:%Y-%m-%dT%H:%M:%SZ}/{end:%Y-%m-%dT%H:%M:%SZ}",
            bill_invoice_id=self.invoice_id,
            bill_invoicing_entity=self.legal_entity,
            bill_billing_entity=billing_entity,
            bill_bill_type="Anniversary",
            bill_payer_account_id=spec.payer_account_id,
            bill_payer_account_name=spec.payer_name,
            bill_billing_period_start_date=self.period.start,
            bill_billing_period_end_date=self.period.end,
            line_item_usage_account_id=account.account_id,
            line_item_usage_account_name=account.name,
            line_item_line_item_type=line_item_type,
            line_item_usage_start_date=start,
            line_item_usage_end_date=end,
            line_item_product_code=product_code,
            line_item_currency_code=spec.currency,
            line_item_unblended_cost=unblended,
            line_item_blended_cost=unblended if blended is None else blended,
            line_item_legal_entity=self.legal_entity,
            product={},
            cost_category={},
            discount={},
            resource_tags={},
        )
        self.rows.append(row)
        return row

    def _resource_id(self, item: _Item, account: LinkedAccount, slot: int) -> str:
        region = self.regions[account.account_id].code
        tag = f"{account.account_id}|{item.resource}|{slot}"
        if item.resource == "instance":
            return f"i-{_hex(17, 'i', tag)}"
        if item.resource == "volume":
            return f"vol-{_hex(17, 'vol', tag)}"
        if item.resource == "bucket":
            return f"{account.name.lower().replace(' ', '-')}-{_TEAMS[slot % len(_TEAMS)]}-{slot}"
        if item.resource == "db":
            return f"arn:aws:rds:{region}:{account.account_id}:db:app-db-{slot}"
        if item.resource == "function":
            return f"arn:aws:lambda:{region}:{account.account_id}:function:handler-{slot}"
        return ""

    def _usage(self, account: LinkedAccount, item: _Item, day: datetime, slot: int, key: str) -> Row:
        region = self.regions[account.account_id]
        amount = Decimal(self.rng.randint(item.amount_lo, item.amount_hi)) / Decimal(item.amount_scale)
        unblended = _q(amount * item.rate)
        blended_rate = item.blended_rate if item.blended_rate is not None else item.rate
        row = self._row(
            account,
            "Usage",
            key,
            day,
            day + timedelta(days=1),
            product_code=item.product_code,
            unblended=unblended,
            blended=_q(amount * blended_rate),
        )
        # Data transfer bills against the instance that sent the bytes.
        resource_slot = 0 if item.key == "dto" else slot
        row.update(
            line_item_usage_type=region.usage_prefix + item.usage_type,
            line_item_operation=item.operation,
            line_item_availability_zone=f"{region.code}a" if item.zonal else "",
            line_item_resource_id=self._resource_id(item, account, resource_slot),
            line_item_usage_amount=amount,
            line_item_unblended_rate=item.rate,
            line_item_blended_rate=blended_rate,
            line_item_line_item_description=item.description,
            product_location=region.location,
            product_product_family=item.family,
            product_region_code=region.code,
            product_servicecode=item.servicecode,
            product_sku=item.sku,
            pricing_public_on_demand_cost=unblended,
            pricing_public_on_demand_rate=item.rate,
            pricing_term="OnDemand",
            pricing_unit=item.unit,
        )
        row["product"] = _product_map(item.product_name, region.code, item.instance_type)
        index = _digest(account.account_id, slot)[0]
        if item.taggable and (day.day + slot) % 3 != 0:
            row["resource_tags"] = {
                "user_team": _TEAMS[index % len(_TEAMS)],
                "user_env": _ENVS[(index + slot) % len(_ENVS)],
                "aws_created_by": f"IAMUser:AIDA{_hex(16, account.account_id).upper()}:deploy",
            }
        if item.key in ("ec2", "rds"):
            row["cost_category"] = {"business_unit": "engineering" if index % 2 else "product"}
        return row

    # ---- the month ------------------------------------------------------------------------

    def build(self) -> list[Row]:
        days = [self.period.start + timedelta(days=d) for d in range(self.period.days)]
        for day in days:
            for account in self.accounts:
                self._account_day(account, day)
            self._discounted_usage(day)
            self._savings_plan_day(day)
        self._ri_fees()
        self._monthly_adjustments()
        if self.revision:
            self._apply_revision(days[-1])
        if self.spec.discounts:
            self._apply_discounts()
        self._taxes()
        return self.rows

    def _account_day(self, account: LinkedAccount, day: datetime) -> None:
        offset = self.accounts.index(account)
        for slot in range(self.spec.rows_per_account_day):
            # Slot 0 is always the account's m5.large, so split cost rows have a parent.
            item = _CATALOG[0] if slot == 0 else _CATALOG[1 + (slot - 1 + offset) % (len(_CATALOG) - 1)]
            row = self._usage(account, item, day, slot, f"usage|{day:%d}|{slot}")
            if slot == 0 and account == self.split_account:
                self._split_rows(account, row, day)

    def _split_rows(self, account: LinkedAccount, parent: Row, day: datetime) -> None:
        """EKS/ECS split cost allocation: per pod/task rows that re-state a share of the
        instance's cost (non-zero unblended), pointing back at it by parent resource id."""
        region = self.regions[account.account_id]
        parent_cost: Decimal = parent["line_item_unblended_cost"]
        shares = (
            ("EKSPod-EC2", "web", Decimal("0.35")),
            ("EKSPod-EC2", "worker", Decimal("0.25")),
            ("ECSTask-EC2", "batch", Decimal("0.15")),
        )
        for index, (operation, workload, share) in enumerate(shares):
            cost = _q(parent_cost * share)
            row = self._row(
                account,
                "Usage",
                f"split|{day:%d}|{index}",
                day,
                day + timedelta(days=1),
                product_code="AmazonEC2",
                unblended=cost,
            )
            pod_id = uuid.uuid5(_NAMESPACE, f"{account.account_id}|{workload}|{day:%Y%m%d}")
            if operation == "EKSPod-EC2":
                resource = f"arn:aws:eks:{region.code}:{account.account_id}:pod/prod-cluster/default/{workload}/{pod_id}"
                usage_type = f"{region.usage_prefix}EKS-EC2-vCPU-Hours"
            else:
                resource = f"arn:aws:ecs:{region.code}:{account.account_id}:task/prod-cluster/{pod_id.hex}"
                usage_type = f"{region.usage_prefix}ECS-EC2-vCPU-Hours"
            row.update(
                line_item_usage_type=usage_type,
                line_item_operation=operation,
                line_item_availability_zone=parent["line_item_availability_zone"],
                line_item_resource_id=resource,
                line_item_usage_amount=_q(Decimal(2) * parent["line_item_usage_amount"] * share),
                line_item_line_item_description=f"{operation} split cost allocation",
                product_location=region.location,
                product_product_family="Compute Instance",
                product_region_code=region.code,
                product_servicecode="AmazonEC2",
                pricing_unit="vCPU-Hours",
                split_line_item_parent_resource_id=parent["line_item_resource_id"],
                split_line_item_split_cost=cost,
            )
            row["product"] = _product_map("Amazon Elastic Compute Cloud", region.code, "m5.large")
            row["resource_tags"] = {"user_team": _TEAMS[index], "user_env": "prod"}

    # Reserved instance: partial upfront m5.xlarge, 525.60 upfront a year = 0.06/h amortized,
    # plus 0.05/h recurring, against 0.192/h on demand.
    _RI_UPFRONT_HOURLY = Decimal("0.06")
    _RI_RECURRING_HOURLY = Decimal("0.05")
    _RI_OD_RATE = Decimal("0.192")
    _RI_UNUSED_DAYS = 2  # the instance stops two days before month end: unused RI hours

    def _discounted_usage(self, day: datetime) -> None:
        if day.day > self.period.days - self._RI_UNUSED_DAYS:
            return
        account = self.ri_account
        region = self.regions[self.accounts[0].account_id]
        hours = Decimal(24)
        upfront = _q(hours * self._RI_UPFRONT_HOURLY)
        recurring = _q(hours * self._RI_RECURRING_HOURLY)
        # The RI's cost is billed on the RIFee line, so the covered usage is zero unblended.
        row = self._row(
            account,
            "DiscountedUsage",
            f"ri|{day:%d}",
            day,
            day + timedelta(days=1),
            product_code="AmazonEC2",
            unblended=_ZERO,
        )
        row.update(
            line_item_usage_type=f"{region.usage_prefix}BoxUsage:m5.xlarge",
            line_item_operation="RunInstances",
            line_item_availability_zone=f"{region.code}a",
            line_item_resource_id=self._resource_id(_CATALOG[0], account, 90),
            line_item_usage_amount=hours,
            line_item_unblended_rate=_ZERO,
            line_item_blended_rate=_ZERO,
            line_item_line_item_description="USD 0.05 hourly fee per Linux/UNIX (Amazon VPC), m5.xlarge instance",
            product_location=region.location,
            product_product_family="Compute Instance",
            product_region_code=region.code,
            product_servicecode="AmazonEC2",
            product_sku="Q5KJSQ8D6YCWXG4R",
            pricing_public_on_demand_cost=_q(hours * self._RI_OD_RATE),
            pricing_public_on_demand_rate=self._RI_OD_RATE,
            pricing_term="Reserved",
            pricing_unit="Hrs",
            reservation_reservation_a_r_n=self.ri_arn,
            reservation_amortized_upfront_cost_for_usage=upfront,
            reservation_recurring_fee_for_usage=recurring,
            reservation_effective_cost=upfront + recurring,
        )
        row["product"] = _product_map("Amazon Elastic Compute Cloud", region.code, "m5.xlarge")

    def _ri_fees(self) -> None:
        payer = self.accounts[0]
        region = self.regions[payer.account_id]
        start, end = self.period.start, self.period.end
        hours = Decimal(self.period.hours)
        unused_hours = Decimal(24 * self._RI_UNUSED_DAYS)
        recurring = _q(hours * self._RI_RECURRING_HOURLY)
        fee = self._row(payer, "RIFee", "rifee", start, end, product_code="AmazonEC2", unblended=recurring)
        fee.update(
            line_item_usage_type=f"{region.usage_prefix}HeavyUsage:m5.xlarge",
            line_item_operation="RunInstances",
            line_item_usage_amount=hours,
            line_item_unblended_rate=self._RI_RECURRING_HOURLY,
            line_item_blended_rate=self._RI_RECURRING_HOURLY,
            line_item_line_item_description="USD 0.05 hourly fee per Linux/UNIX (Amazon VPC), m5.xlarge instance",
            product_region_code=region.code,
            product_location=region.location,
            product_servicecode="AmazonEC2",
            pricing_term="Reserved",
            pricing_unit="Hrs",
            reservation_reservation_a_r_n=self.ri_arn,
            reservation_amortized_upfront_fee_for_billing_period=_q(hours * self._RI_UPFRONT_HOURLY),
            reservation_unused_amortized_upfront_fee_for_billing_period=_q(
                unused_hours * self._RI_UPFRONT_HOURLY
            ),
            reservation_unused_recurring_fee=_q(unused_hours * self._RI_RECURRING_HOURLY),
        )
        fee["product"] = _product_map("Amazon Elastic Compute Cloud", region.code, "m5.xlarge")
        # The upfront payment itself: a "Fee" line with the reservation's ARN. Its cost is
        # spread over the term by amortization, so its effective cost is zero.
        upfront = self._row(
            payer, "Fee", "riupfront", start, end, product_code="AmazonEC2", unblended=Decimal("525.6")
        )
        upfront.update(
            line_item_usage_type=f"{region.usage_prefix}HeavyUsage:m5.xlarge",
            line_item_usage_amount=Decimal(1),
            line_item_unblended_rate=Decimal("525.6"),
            line_item_blended_rate=Decimal("525.6"),
            line_item_line_item_description="Sign up charge for subscription: 1234567890, planId: 2194283",
            reservation_reservation_a_r_n=self.ri_arn,
            product_region_code=region.code,
        )
        upfront["product"] = _product_map("Amazon Elastic Compute Cloud", region.code, "m5.xlarge")

    # Compute Savings Plan: 0.06/h commitment; c5.large at 0.085/h on demand costs 0.054/h.
    _SP_COMMIT_HOURLY = Decimal("0.06")
    _SP_RATE = Decimal("0.054")
    _SP_OD_RATE = Decimal("0.085")

    def _savings_plan_day(self, day: datetime) -> None:
        account = self.sp_account
        payer = self.accounts[0]
        region = self.regions[account.account_id]
        next_day = day + timedelta(days=1)
        hours = Decimal(24)
        on_demand = _q(hours * self._SP_OD_RATE)
        sp_cost = _q(hours * self._SP_RATE)
        resource = self._resource_id(_CATALOG[0], account, 80)
        common = {
            "line_item_usage_type": f"{region.usage_prefix}BoxUsage:c5.large",
            "line_item_operation": "RunInstances",
            "line_item_availability_zone": f"{region.code}b",
            "line_item_resource_id": resource,
            "line_item_usage_amount": hours,
            "product_location": region.location,
            "product_product_family": "Compute Instance",
            "product_region_code": region.code,
            "product_servicecode": "AmazonEC2",
            "product_sku": "ZJCS6XQ2XRXWFG2D",
            "pricing_unit": "Hrs",
            "savings_plan_savings_plan_a_r_n": self.sp_arn,
        }
        # Covered usage keeps its on-demand price as unblended cost ...
        covered = self._row(
            account,
            "SavingsPlanCoveredUsage",
            f"spu|{day:%d}",
            day,
            next_day,
            product_code="AmazonEC2",
            unblended=on_demand,
        )
        covered.update(common)
        covered.update(
            line_item_unblended_rate=self._SP_OD_RATE,
            line_item_blended_rate=self._SP_OD_RATE,
            line_item_line_item_description="$0.085 per On Demand Linux c5.large Instance Hour",
            pricing_public_on_demand_cost=on_demand,
            pricing_public_on_demand_rate=self._SP_OD_RATE,
            pricing_term="OnDemand",
            savings_plan_savings_plan_rate=self._SP_RATE,
            savings_plan_savings_plan_effective_cost=sp_cost,
        )
        covered["product"] = _product_map("Amazon Elastic Compute Cloud", region.code, "c5.large")
        covered["resource_tags"] = {"user_team": "ml", "user_env": "prod"}
        # ... and a negation line in the same account takes it back out of the unblended total.
        negation = self._row(
            account,
            "SavingsPlanNegation",
            f"spn|{day:%d}",
            day,
            next_day,
            product_code="ComputeSavingsPlans",
            unblended=-on_demand,
        )
        negation.update(common)
        negation.update(
            line_item_unblended_rate=-self._SP_OD_RATE,
            line_item_blended_rate=-self._SP_OD_RATE,
            line_item_line_item_description=(
                f"SavingsPlanNegation used by AccountId : {account.account_id} and UsageSku : ZJCS6XQ2XRXWFG2D"
            ),
        )
        # The commitment is billed daily on the payer; only the unused part is effective cost.
        commitment = _q(hours * self._SP_COMMIT_HOURLY)
        fee = self._row(
            payer,
            "SavingsPlanRecurringFee",
            f"spfee|{day:%d}",
            day,
            next_day,
            product_code="ComputeSavingsPlans",
            unblended=commitment,
        )
        fee.update(
            line_item_usage_type="ComputeSP:1yrNoUpfront",
            line_item_operation="",
            line_item_resource_id=self.sp_arn,
            line_item_usage_amount=hours,
            line_item_unblended_rate=self._SP_COMMIT_HOURLY,
            line_item_blended_rate=self._SP_COMMIT_HOURLY,
            line_item_line_item_description="1 year No Upfront Compute Savings Plan",
            product_product_family="Savings Plans",
            product_servicecode="ComputeSavingsPlans",
            savings_plan_savings_plan_a_r_n=self.sp_arn,
            savings_plan_total_commitment_to_date=commitment,
            savings_plan_used_commitment=sp_cost,
            savings_plan_savings_plan_rate=self._SP_COMMIT_HOURLY,
        )
        fee["product"] = {"product_name": "Savings Plans for AWS Compute usage"}

    def _monthly_adjustments(self) -> None:
        start, end = self.period.start, self.period.end
        credit_account = self.accounts[1 % len(self.accounts)]
        credit = self._row(
            credit_account,
            "Credit",
            "credit",
            start,
            end,
            product_code="AmazonEC2",
            unblended=-Decimal(self.rng.randint(1000, 6000)) / 100,
        )
        credit.update(line_item_line_item_description="AWS Credits - Promotional Credit")
        credit["product"] = {"product_name": "Amazon Elastic Compute Cloud"}
        if self.rng.random() < 0.5:
            payer = self.accounts[0]
            refund = self._row(
                payer,
                "Refund",
                "refund",
                start,
                end,
                product_code="AmazonS3",
                unblended=-Decimal(self.rng.randint(100, 2500)) / 100,
            )
            refund.update(line_item_line_item_description="Refund for AWS service disruption")
            refund["product"] = {"product_name": "Amazon Simple Storage Service"}
        # Marketplace software is billed by "AWS Marketplace", with the seller as legal entity.
        mp_account = self.accounts[1 % len(self.accounts)]
        price = Decimal("199.99")
        self._marketplace_line(mp_account, "Usage", "marketplace", start, end, price, "MP:ProfessionalTier",
                               "Acme Observability Platform - Professional tier, monthly")
        if self.period.label.endswith("-09"):
            # An annual Marketplace subscription paid upfront: a Fee line with no commitment, which AWS does
            # not amortize (the FOCUS mapping adds its consumption row).
            self._marketplace_line(mp_account, "Fee", "marketplace-annual", start, end, Decimal("1188.00"),
                                   "MP:AnnualProfessionalTier",
                                   "Acme Observability Platform - Professional tier, 12 months upfront")

    def _apply_revision(self, last_day: datetime) -> None:
        """A rewrite of the month: late-arriving usage for every account and one re-rated
        amount, so a reader that kept the earlier run's files gets different totals."""
        rng = random.Random(f"revision|{self.spec.name}|{self.spec.seed}|{self.period.label}|{self.revision}")
        late_items = (_CATALOG[1], _CATALOG[2])
        for account in self.accounts:
            for n in range(2 * self.revision):
                item = late_items[n % 2]
                row = self._usage(account, item, last_day, 50 + n, f"late|{self.revision}|{n}")
                row["line_item_line_item_description"] = item.description
        target = next(r for r in self.rows if r["line_item_operation"] == "PublicIP-Out")
        extra = Decimal(rng.randint(1, 500)) / 10
        amount = target["line_item_usage_amount"] + extra
        target["line_item_usage_amount"] = amount
        target["line_item_unblended_cost"] = _q(amount * target["line_item_unblended_rate"])
        target["line_item_blended_cost"] = _q(amount * target["line_item_blended_rate"])
        target["pricing_public_on_demand_cost"] = target["line_item_unblended_cost"]

    _EDP_RATE = Decimal("0.05")

    def _apply_discounts(self) -> None:
        """Payers with a private discount (EDP) get net_* columns. AWS-billed usage is 5%
        cheaper net; one EdpDiscount line per account carries the discount in unblended terms
        and has a zero net cost, because the discount already sits in the usage rows' net."""
        per_account: dict[str, Decimal] = {}
        for row in self.rows:
            row["line_item_net_unblended_cost"] = row["line_item_unblended_cost"]
            if row["line_item_line_item_type"] != "Usage" or row["bill_billing_entity"] != "AWS":
                continue
            cut = _q(row["line_item_unblended_cost"] * self._EDP_RATE)
            if not cut:
                continue
            row["line_item_net_unblended_cost"] = row["line_item_unblended_cost"] - cut
            row["discount"] = {"edp_discount": _fmt(-cut), "total_discount": _fmt(-cut)}
            if row["line_item_operation"] not in SPLIT_OPERATIONS:
                account_id = row["line_item_usage_account_id"]
                per_account[account_id] = per_account.get(account_id, _ZERO) + cut
        start, end = self.period.start, self.period.end
        for account in self.accounts:
            cut = per_account.get(account.account_id, _ZERO)
            if not cut:
                continue
            row = self._row(
                account, "EdpDiscount", "edp", start, end, product_code="AmazonEC2", unblended=-cut
            )
            row.update(
                line_item_line_item_description="Enterprise Program Discount",
                line_item_net_unblended_cost=_ZERO,
                discount={"edp_discount": _fmt(-cut), "total_discount": _fmt(-cut)},
            )

    def _taxes(self) -> None:
        start, end = self.period.start, self.period.end
        spent: dict[str, Decimal] = {}
        for row in self.rows:
            if row["bill_billing_entity"] == "AWS" and row["line_item_operation"] not in SPLIT_OPERATIONS:
                account_id = row["line_item_usage_account_id"]
                spent[account_id] = spent.get(account_id, _ZERO) + row["line_item_unblended_cost"]
        for account in self.accounts:
            amount = max(_ZERO, spent.get(account.account_id, _ZERO) * Decimal("0.08")).quantize(_CENT)
            tax = self._row(account, "Tax", "tax", start, end, product_code="AmazonEC2", unblended=amount)
            tax.update(
                line_item_usage_amount=Decimal(1),
                line_item_line_item_description="Tax for product code AmazonEC2",
                line_item_tax_type="VAT" if self.spec.currency == "EUR" else "Sales Tax",
            )
            tax["product"] = {"product_name": "Amazon Elastic Compute Cloud"}
            if self.spec.discounts:
                tax["line_item_net_unblended_cost"] = amount


def _product_map(product_name: str, region: str, instance_type: str = "") -> dict[str, str]:
    entries = {"product_name": product_name, "region": region, "instance_type": instance_type}
    return {k: v for k, v in entries.items() if v}


def _effective_cost(row: Row, has_net: bool) -> Decimal:
    """Amortized cost by line item type (BILLING-EDGE-CASES, "Amortization")."""
    line_item_type = row["line_item_line_item_type"]
    if line_item_type == "SavingsPlanCoveredUsage":
        return _dec(row["savings_plan_savings_plan_effective_cost"])
    if line_item_type == "DiscountedUsage":
        return _dec(row["reservation_effective_cost"])
    if line_item_type == "SavingsPlanRecurringFee":
        return _dec(row["savings_plan_total_commitment_to_date"]) - _dec(row["savings_plan_used_commitment"])
    if line_item_type == "RIFee":
        return _dec(row["reservation_unused_amortized_upfront_fee_for_billing_period"]) + _dec(
            row["reservation_unused_recurring_fee"]
        )
    if line_item_type in ("SavingsPlanNegation", "SavingsPlanUpfrontFee"):
        return _ZERO
    if line_item_type == "Fee" and row["reservation_reservation_a_r_n"]:
        return _ZERO
    return _dec(row["line_item_net_unblended_cost"] if has_net else row["line_item_unblended_cost"])


def _dec(value: Decimal | None) -> Decimal:
    return _ZERO if value is None else value


def _totals(
    rows: Sequence[Row], has_net: bool, weights: Sequence[int] | None = None
) -> dict[str, AccountTotals]:
    acc: dict[str, list[Any]] = {}
    for index, row in enumerate(rows):
        weight = 1 if weights is None else weights[index]
        if not weight:
            continue
        entry = acc.setdefault(row["line_item_usage_account_id"], [0, _ZERO, _ZERO, _ZERO, 0, _ZERO])
        unblended = _dec(row["line_item_unblended_cost"])
        if row["line_item_operation"] in SPLIT_OPERATIONS:
            entry[4] += weight
            entry[5] += unblended * weight
            continue
        entry[0] += weight
        entry[1] += unblended * weight
        entry[2] += _dec(row["line_item_blended_cost"]) * weight
        entry[3] += _effective_cost(row, has_net) * weight
    return {account_id: AccountTotals(*values) for account_id, values in sorted(acc.items())}


def _check_double_safe(rows: Sequence[Row]) -> None:
    """Amounts must survive float(): <= 15 significant digits, no exponent in the CSV text."""
    dec_sources = [c.source for c in _COLUMNS if c.kind == "dec"]
    for row in rows:
        for source in dec_sources:
            value = row.get(source)
            if value is None:
                continue
            exponent = value.as_tuple().exponent
            if (
                len(value.normalize().as_tuple().digits) > 15
                or not isinstance(exponent, int)
                or exponent < -10
            ):
                raise AssertionError(f"{source}={value} in {row['identity_line_item_id']} is not double-safe")


def _build_rows(spec: PayerSpec, billing_period: str, revision: int) -> list[Row]:
    rows = _MonthBuilder(spec, _parse_period(billing_period), revision).build()
    _check_double_safe(rows)
    return rows


