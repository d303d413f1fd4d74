@echo off
rem The daily job for Windows Task Scheduler or by hand: `tpd-programs run`.
rem
rem Usage: scripts\windows\run-daily.cmd [CONFIG]
rem   CONFIG        the configuration file (default: %TPD_CONFIG%, else config\programs.toml
rem                 in the toolkit's folder, two levels above this file)
rem Environment (all optional):
rem   TPD_VENV      the virtual environment the toolkit is installed in (default: .venv in
rem                 the toolkit's folder)
rem   TPD_ENV_FILE  NAME=value lines for secrets such as the SMTP password, read when it
rem                 exists (default: tpd-programs.env beside the configuration file)
rem The log: everything the job prints, errors included, is appended in UTF-8 to
rem run-daily.log in the output folder's logs folder, beside the toolkit's own
rem tpd-programs.log. When the configuration cannot be read or there is no virtual
rem environment, run-daily.log is written beside this file instead. Past 1 MB it is moved
rem to run-daily.log.1 and started afresh.
rem Exit codes are those of `tpd-programs run`: 0 every step succeeded, 1 a step failed (see
rem the logs), 2 bad usage or setup, 3 another run is still going.
setlocal
rem UTF-8 for Python's output and files, and for this console (folder names with accents).
set "PYTHONUTF8=1"
chcp 65001 >nul 2>&1
for %%R in ("%~dp0..\..") do set "ROOT=%%~fR"
if "%TPD_VENV%"=="" set "TPD_VENV=%ROOT%\.venv"
set "CONFIG=%~1"
if "%CONFIG%"=="" set "CONFIG=%TPD_CONFIG%"
if "%CONFIG%"=="" set "CONFIG=%ROOT%\config\programs.toml"
if "%TPD_ENV_FILE%"=="" for %%F in ("%CONFIG%") do set "TPD_ENV_FILE=%%~dpFtpd-programs.env"

rem Where the log goes: the configuration's output folder, asked of the venv's Python
rem (output_folder.py makes its logs folder); else beside this file.
for %%S in ("%~dp0.") do set "LOGDIR=%%~fS"
if not exist "%TPD_VENV%\Scripts\python.exe" goto :log_chosen
for /f "usebackq delims=" %%D in (`call "%TPD_VENV%\Scripts\python.exe" "%~dp0output_folder.py" "%CONFIG%" --logs`) do set "LOGDIR=%%D"
:log_chosen
set "LOG=%LOGDIR%\run-daily.log"
if exist "%LOG%" for %%L in ("%LOG%") do if %%~zL GTR 1000000 move /y "%LOG%" "%LOG%.1" >nul 2>&1

call :job >>"%LOG%" 2>&1
set "CODE=%ERRORLEVEL%"
>>"%LOG%" echo %DATE% %TIME% run-daily.cmd: exit code %CODE%
exit /b %CODE%

:job
echo %DATE% %TIME% run-daily.cmd: starting, configuration %CONFIG%
if exist "%TPD_VENV%\Scripts\activate.bat" goto :venv_found
echo run-daily.cmd: no virtual environment at %TPD_VENV%: set TPD_VENV 1>&2
exit /b 2
:venv_found
if not exist "%TPD_ENV_FILE%" goto :secrets_read
for /f "usebackq eol=# tokens=1,* delims==" %%A in ("%TPD_ENV_FILE%") do set "%%A=%%B"
:secrets_read
call "%TPD_VENV%\Scripts\activate.bat"
tpd-programs run --config "%CONFIG%"
exit /b %ERRORLEVEL%
