from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("realtime_engine", "0002_stop_event"),
    ]

    operations = [
        migrations.AddField(
            model_name="stopevent",
            name="revision",
            field=models.BigIntegerField(default=0),
        ),
    ]
