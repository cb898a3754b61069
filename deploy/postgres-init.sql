-- One database per service: no service reads another's data.
CREATE DATABASE pacte_orientation;
CREATE DATABASE pacte_sessions;
CREATE DATABASE pacte_remuneration;
CREATE DATABASE pacte_agora_gateway;
CREATE DATABASE pacte_attendance;
CREATE DATABASE pacte_insights;
