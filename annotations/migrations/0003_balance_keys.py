"""One encoding of what a rater sees in balance: a balance key stored on each campaign item,
listed on the campaign and counted on the rater, instead of a (checkpoint, role, correctness)
cell written three ways."""

from django.db import migrations, models
from django.db.models import Case, CharField, Value, When
from django.db.models.functions import Cast, Concat


def fill_balance_keys(apps, schema_editor):
    CampaignItem = apps.get_model("annotations", "CampaignItem")
    Campaign = apps.get_model("annotations", "Campaign")
    # the verdict design's key, as annotations.designs.verdict.balance_key writes it
    CampaignItem.objects.update(
        balance_key=Concat(
            Cast("checkpoint_id", CharField()), Value(":"), "role", Value(":"),
            Case(When(sample_is_correct=True, then=Value("1")), default=Value("0")),
            output_field=CharField(),
        )
    )
    for campaign in Campaign.objects.all():
        campaign.balance_keys = sorted(
            CampaignItem.objects.filter(campaign=campaign, is_practice=False)
            .values_list("balance_key", flat=True)
            .distinct()
        )
        campaign.save(update_fields=["balance_keys"])


def recount(apps, schema_editor):
    from annotations.rating.counters import items_recount, raters_recount

    raters_recount(apps=apps)
    items_recount(apps=apps)


class Migration(migrations.Migration):

    dependencies = [
        ("annotations", "0002_rater_counters"),
        ("legibility", "0001_initial"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="campaignitem", name="item_cell_free_idx"),
        migrations.AddField(
            model_name="campaignitem",
            name="balance_key",
            field=models.CharField(default="", editable=False, max_length=200),
            preserve_default=False,
        ),
        migrations.RenameField(model_name="campaign", old_name="cells", new_name="balance_keys"),
        migrations.RenameField(
            model_name="rater", old_name="cell_counts", new_name="balance_counts"
        ),
        migrations.AlterField(
            model_name="rater",
            name="balance_counts",
            field=models.JSONField(
                blank=True, default=dict, editable=False,
                help_text="Main items issued and not expired per balance key.",
            ),
        ),
        migrations.RunPython(fill_balance_keys, migrations.RunPython.noop),
        migrations.RunPython(recount, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="campaignitem",
            index=models.Index(
                condition=models.Q(("is_practice", False), ("remaining__gt", 0)),
                fields=["campaign", "balance_key", "random_key"],
                name="item_balance_free_idx",
            ),
        ),
    ]
