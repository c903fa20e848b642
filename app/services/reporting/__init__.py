"""What an agency office reads: statistics (`stats`), reminder and outreach scans (`scans`),
risk signals (`risk_signals`) and the county progress report (`county_report`)."""
