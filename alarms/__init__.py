"""Alarms: lifecycle of what rules raise, graded response, work orders, escalation, credit scores, KPIs."""
