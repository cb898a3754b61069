"""The AsyncAPI catalogue names every dead-letter topic the services' consumers really write."""

from __future__ import annotations

from pacte_common.asyncapi import DEAD_LETTER_CONSUMERS


def service_consumers() -> set[tuple[str, str]]:
    """(topic, `<service>.<subscription>`) of every consumer group the four services run."""
    from agora_gateway.events.handlers import SUBSCRIPTIONS as gateway
    from attendance.events.handlers import SUBSCRIPTIONS as attendance
    from insights.events.handlers import subscriptions as insights
    from orientation.events.handlers import SUBSCRIPTIONS as orientation
    from remuneration.events.handlers import SUBSCRIPTIONS as remuneration
    from sessions.events.handlers import attendance_sheets_subscription, subscriptions
    from sessions.settings import SessionsSettings

    services = {
        "orientation": orientation,
        "sessions": [*subscriptions(SessionsSettings().prescriptions_consumer_name), attendance_sheets_subscription()],
        "attendance": attendance,
        "insights": insights(),
        "remuneration": remuneration,
        "agora-gateway": gateway,
    }
    return {
        (topic, f"{service}.{subscription.name}")
        for service, subscriptions_ in services.items()
        for subscription in subscriptions_
        for topic in subscription.topics
    }


def test_dead_letter_channels_are_the_consumers_the_services_run():
    catalogued = {(topic, consumer) for topic, consumers in DEAD_LETTER_CONSUMERS.items() for consumer in consumers}
    assert catalogued == service_consumers()
